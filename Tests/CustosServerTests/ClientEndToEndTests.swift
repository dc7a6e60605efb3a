import CustosClient
import CustosLedger
import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// `CustosClient` against real daemons: through a proxy that drops, delays and resets a third of the
/// answers, every append and decision is recorded exactly once; tokens are refreshed before they
/// expire; calls move to another node when one dies.
@Suite(.serialized) struct ClientEndToEndTests {
  typealias Transport = HTTP2ClientTransport.Posix

  /// A client configured for a faulty loopback network: short attempts, many of them.
  static func faultTolerant(
    _ ports: [Int], credentials: CustosClientConfiguration.Credentials = .none, attemptTimeout: Duration = .milliseconds(250)
  ) -> CustosClientConfiguration {
    var configuration = CustosClientConfiguration(endpoints: ports.map { .init(host: "127.0.0.1", port: $0) }, credentials: credentials)
    configuration.attemptTimeout = attemptTimeout
    configuration.callDeadline = .seconds(60)
    configuration.retry = .init(maximumAttempts: 60, initialBackoff: .milliseconds(5), maximumBackoff: .milliseconds(100))
    configuration.healthCheckInterval = .milliseconds(200)
    configuration.reconnectBackoffLimit = .milliseconds(100)
    return configuration
  }

  /// Runs `count` calls over `workers` concurrent tasks, returning each call's result by its number.
  static func spread<T: Sendable>(_ count: Int, workers: Int = 8, _ call: @escaping @Sendable (Int) async throws -> T) async throws -> [Int: T] {
    try await withThrowingTaskGroup(of: [(Int, T)].self) { group in
      for worker in 0..<workers {
        group.addTask {
          var results: [(Int, T)] = []
          for i in stride(from: worker, to: count, by: workers) { results.append((i, try await call(i))) }
          return results
        }
      }
      return try await group.reduce(into: [:]) { all, part in for (i, value) in part { all[i] = value } }
    }
  }

  /// The entries `[from, size)` as stored, read straight from the daemon (no proxy).
  static func entries(port: Int, from: UInt64) async throws -> [Custos_V1_Entry] {
    try await withDaemonClients(port: port) { log, _ in
      try await log.getEntries(.with { $0.start = from }) { try await $0.messages.reduce(into: []) { $0.append($1) } }
    }
  }

  @Test func aThousandAppendsAndChecksThroughFaultsAreEachRecordedOnce() async throws {
    let daemon = try await DaemonProcess()
    let start = try await withDaemonClients(port: daemon.grpcPort) { log, _ in try await log.getCheckpoint(.init()).size }
    let proxy = try FaultProxy(upstreamPort: daemon.grpcPort, faultRate: 1.0 / 3, delay: 0.3)
    let run = UUID().uuidString.prefix(8)
    let (appended, decided) = try await withCustosClient(Self.faultTolerant([proxy.port])) { client in
      let appended = try await Self.spread(1000) { i in
        try await client.append(auditEvent(i, actor: "Service::\"faulty-\(run)\""))
      }
      let decided = try await Self.spread(1000) { i in
        try await client.check(AuthorizationEndToEndTests.refund(cents: 100 + i, hour: 10, id: "\(run)-\(i)"))
      }
      return (appended, decided)
    }
    proxy.close()
    let faults = proxy.faults.values.reduce(0, +)
    #expect(faults > 200, "faults were injected: \(proxy.faults)")

    let stored = try await Self.entries(port: daemon.grpcPort, from: start)
    let byIndex = Dictionary(uniqueKeysWithValues: stored.map { ($0.index, $0) })
    let appends = stored.filter { $0.actor == "Service::\"faulty-\(run)\"" }
    #expect(appends.count == 1000, "exactly 1,000 append entries")
    #expect(Set(appends.map(\.resource)).count == 1000, "each once")
    for (i, receipt) in appended {
      let entry = try #require(byIndex[receipt.index])
      #expect(entry.leafHash == receipt.leafHash && entry.resource == "Invoice::\"\(i)\"", "append \(i)'s receipt matches its entry")
    }
    let decisions = stored.filter { $0.kind == "authz.decision" && String(decoding: $0.canonical, as: UTF8.self).contains("\"request_id\":\"\(run)-") }
    #expect(decisions.count == 1000, "exactly 1,000 decisions")
    for (i, response) in decided {
      let entry = try #require(byIndex[response.receipt.index])
      #expect(entry.leafHash == response.receipt.leafHash && response.decision == .allow, "check \(i)")
      #expect(String(decoding: entry.canonical, as: UTF8.self).contains("\"request_id\":\"\(run)-\(i)\""))
    }
    let verified = try await withDaemonClients(port: daemon.grpcPort) { log, _ in try await LedgerKeyEndToEndTests.verified(log) }
    #expect(verified)
  }

  @Test func aReceiptIsProvenOnTheClientWithThePinnedKey() async throws {
    let daemon = try await DaemonProcess()
    let pinned = try await withDaemonClients(port: daemon.grpcPort) { log, _ in try await log.getVerifierKey(.init()).verifierKey }
    var configuration = Self.faultTolerant([daemon.grpcPort])
    configuration.pinnedVerifierKey = pinned
    try await withCustosClient(configuration) { client in
      let proven = try await client.appendVerified(auditEvent(1))
      #expect(proven.treeSize > proven.receipt.index && !proven.inclusionProof.isEmpty || proven.treeSize == 1)
    }
    // Another key pinned: the proof does not hold.
    configuration.pinnedVerifierKey = NoteSigner(name: "custos.local/ledger", privateKey: .init()).verifier.verifierKey
    try await withCustosClient(configuration) { client in
      do {
        _ = try await client.appendVerified(auditEvent(2))
        Issue.record("a checkpoint signed by another key was accepted")
      } catch let error as CustosClientError {
        #expect(error.code == .dataLoss && error.message.contains("pinned ledger key"), "\(error)")
      }
    }
  }

  @Test func shortLivedTokensAreRefreshedAndNoCallFailsForAnExpiredOne() async throws {
    let daemon = try await DaemonProcess(environment: ["CUSTOS_TOKEN_SKEW_SECONDS": "0"], authenticated: true)
    let admin = try CustosClientConfiguration.Credentials.file(daemon.keysDirectory.appendingPathComponent("initial-admin-credential").path)
    // Argon2id runs for the admin's token and the new secret: no short attempts here.
    let secret = try await withCustosClient(Self.faultTolerant([daemon.grpcPort], credentials: admin, attemptTimeout: .seconds(10))) { client in
      try await client.call(.mutation(idempotent: false)) { attempt in
        try await attempt.tokens.createClient(.with {
          $0.clientID = "short-lived"
          $0.roles = ["Role::\"admin\""]
          $0.audiences = ["custos"]
          $0.tokenTtlSeconds = 2
        }, metadata: attempt.metadata, options: attempt.options).clientSecret
      }
    }
    var configuration = Self.faultTolerant(
      [daemon.grpcPort], credentials: .clientSecret(id: "short-lived", secret: secret), attemptTimeout: .seconds(10))
    configuration.tokenRefreshFraction = 0.9
    configuration.retry = .never  // a failure would show at once
    let calls = try await withCustosClient(configuration) { client in
      var calls = 0
      let until = Date().addingTimeInterval(7)
      while Date() < until || calls < 30 {
        _ = try await client.append(auditEvent(calls))
        calls += 1
        try await Task.sleep(for: .milliseconds(20))
      }
      return calls
    }
    #expect(calls >= 30)
    let issued = try await withCustosClient(Self.faultTolerant([daemon.grpcPort], credentials: admin, attemptTimeout: .seconds(10))) { client in
      try await client.entries(from: 0).filter { $0.kind == "token.issue" && $0.actor == "Service::\"short-lived\"" }
    }
    #expect(issued.count >= 3, "tokens were refreshed (\(issued.count) issued)")
  }

  @Test func callsMoveToTheOtherNodeWhenOneDies() async throws {
    let cluster = try await ClusterEndToEndTests.Cluster.start(nodes: 2)
    let ports = cluster.nodes.map(\.grpcPort)
    var configuration = Self.faultTolerant(ports)
    configuration.attemptTimeout = .seconds(2)
    let receipts = try await withCustosClient(configuration) { client in
      try await withThrowingTaskGroup(of: [Custos_V1_Receipt].self) { group in
        group.addTask {
          var receipts: [Custos_V1_Receipt] = []
          for i in 0..<300 {
            receipts.append(try await client.append(auditEvent(i, actor: "Service::\"failover\"")))
            try await Task.sleep(for: .milliseconds(5))
          }
          return receipts
        }
        group.addTask {
          try await Task.sleep(for: .milliseconds(400))
          cluster.nodes[0].kill()
          return []
        }
        return try await group.reduce(into: []) { $0 += $1 }
      }
    }
    #expect(receipts.count == 300)
    let stored = try await Self.entries(port: ports[1], from: 0).filter { $0.actor == "Service::\"failover\"" }
    #expect(stored.count == 300, "each append once, none lost")
    let leaves = Set(stored.map(\.leafHash))
    #expect(receipts.allSatisfy { leaves.contains($0.leafHash) })
  }
}
