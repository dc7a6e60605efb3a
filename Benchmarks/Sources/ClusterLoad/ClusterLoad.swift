import CustosCrypto
import CustosLedger
import CustosProtocol
import CustosServer
import CustosStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import LoadSupport
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Custos on PostgreSQL, measured against PostgreSQL itself in the same run:
///
/// 1. durable appends through 1, 2 and 3 nodes (ledgers on their own stores and connection pools, one
///    database) against raw inserts of the same rows with the same durability (one committed,
///    `synchronous_commit=on` insert per acknowledgement) from the same number of clients;
/// 2. the tip lock's wait and hold time per batch (p50, p99) at each node count: the hold as each node
///    times it (an upper bound: it includes a network round trip) and as the server does
///    (`TipLockLog`: exact where one batch hands the row to the next);
/// 3. `Check` over loopback through a node on PostgreSQL against the same node on SQLite.
///
/// Uses the tests' throwaway PostgreSQL server:
///
///   scripts/test-postgres.sh start
///   (cd Benchmarks && swift run -c release ClusterLoad [seconds-per-phase] [clients-per-node])
@main
struct ClusterLoad {
  static func main() async throws {
    let seconds = argument(1, default: 5.0)
    let clientsPerNode = argument(2, default: 16)
    // Start it first: scripts/test-postgres.sh start (this tool does not start daemons).
    let server = try shell(InProcessDaemon.repositoryRoot.appendingPathComponent("scripts/test-postgres.sh").path, "url")
    let password = try shell(InProcessDaemon.repositoryRoot.appendingPathComponent("scripts/test-postgres.sh").path, "password")
    print("PostgreSQL: \(server); \(clientsPerNode) clients per node, \(seconds) s per phase")

    for nodes in 1...3 {
      let clients = nodes * clientsPerNode
      let raw = try await rawInsertRate(server: server, password: password, clients: clients, seconds: seconds)
      let (custos, timings) = try await appendRate(server: server, password: password, nodes: nodes, clientsPerNode: clientsPerNode, seconds: seconds)
      print(String(format: "%d node(s), %d clients: Custos %.0f appends/s, raw PostgreSQL inserts %.0f/s, ratio %.2f", nodes, clients, custos, raw, custos / raw))
      print(timings)
    }

    // Check over loopback: the same daemon configuration on each store, back to back.
    let sqlite = try await checkRate(seconds: seconds) { _ in }
    let url = try freshDatabase(server: server, password: password)
    let postgres = try await checkRate(seconds: seconds, databasePassword: password) {
      $0.store = .postgres
      $0.databaseURL = url
    }
    print(String(format: "Check over loopback, PostgreSQL / SQLite: %.0f / %.0f = %.2f", postgres, sqlite, postgres / sqlite))
  }

  static let event = LedgerEvent(
    kind: "audit.event", actor: "Service::\"billing-worker\"", action: "charge", resource: "Invoice::\"42\"", outcome: "success",
    details: ["amount_cents": .integer(1299), "currency": .string("EUR")])

  /// Appends per second through `nodes` ledgers on one database, with the tip lock's timings.
  static func appendRate(server: String, password: String, nodes: Int, clientsPerNode: Int, seconds: Double) async throws -> (Double, String) {
    let url = try freshDatabase(server: server, password: password)
    let signer = NoteSigner(name: "custos.load/ledger", privateKey: Ed25519.PrivateKey())
    let events = Mutex<[TipLockEvent]>([])
    var ledgers: [Ledger] = []
    var stores: [PostgresStore] = []
    for _ in 0..<nodes {
      let store = try PostgresStore(settings: try PostgresSettings(url: url, password: password))
      stores.append(store)
      let storage = store.ledgerStorage.observingTip { event in events.withLock { $0.append(event) } }
      ledgers.append(try Ledger(storage: storage, signer: signer))
    }
    _ = try await ledgers[0].append(event)  // warm the pools
    try await TipLockLog.install(url: url, password: password)
    let syncsBefore = try TipLockLog.walSyncs(url: url, password: password)
    events.withLock { $0.removeAll() }
    let ledgerList = ledgers
    let rate = try await callRate("\(nodes) node(s): Ledger.append on PostgreSQL", seconds: seconds, inFlight: nodes * clientsPerNode) {
      // Callers spread over the nodes like a load balancer would.
      _ = try await ledgerList[Int.random(in: 0..<ledgerList.count)].append(event)
    }
    for store in stores { store.shutdown() }
    let serverHolds = try await TipLockLog.holds(url: url, password: password)
    let syncsAfter = try TipLockLog.walSyncs(url: url, password: password)
    let flush = (syncsAfter.milliseconds - syncsBefore.milliseconds) / max(1, syncsAfter.count - syncsBefore.count)
    var waits: [Duration] = [], holds: [Duration] = [], lost = 0, lockedFirst = 0
    for event in events.withLock({ $0 }) {
      switch event {
      case .committed(let wait, let hold, let locking):
        waits.append(wait)
        holds.append(hold)
        if locking { lockedFirst += 1 }
      case .lost: lost += 1
      }
    }
    waits.sort()
    holds.sort()
    func percentile(_ values: [Duration], _ p: Double) -> String {
      guard !values.isEmpty else { return "-" }
      return String(format: "%.3f ms", milliseconds(values[min(values.count - 1, Int(Double(values.count) * p))]))
    }
    let batches = Double(holds.count) / seconds
    return (rate, String(
      format: "  tip lock: %d batches (%.0f/s, %.1f entries each); hold p50 %@ p99 %@ (node), %@ %@ (server, %d handoffs), %@ %@ to the commit's stamp + %.3f ms WAL flush (server, %d batches); wait p50 %@ p99 %@; %.2f lost races per batch, %.1f %% on the locking path",
      holds.count, batches, rate / max(batches, 1), percentile(holds, 0.5), percentile(holds, 0.99), percentile(serverHolds.atHandoffs, 0.5),
      percentile(serverHolds.atHandoffs, 0.99), serverHolds.atHandoffs.count, percentile(serverHolds.toCommitStamp, 0.5),
      percentile(serverHolds.toCommitStamp, 0.99), flush, serverHolds.toCommitStamp.count, percentile(waits, 0.5),
      percentile(waits, 0.99), Double(lost) / Double(max(holds.count, 1)), 100 * Double(lockedFirst) / Double(max(holds.count, 1))))
  }

  /// Committed inserts per second of the rows the ledger writes, one transaction per insert, into a table
  /// with the entries table's columns and indexes, from `clients` connections.
  static func rawInsertRate(server: String, password: String, clients: Int, seconds: Double) async throws -> Double {
    let url = try freshDatabase(server: server, password: password)
    let store = try PostgresStore(settings: try PostgresSettings(url: url, password: password))  // creates ledger_entries
    store.shutdown()
    var configuration = try PostgresSettings(url: url, password: password).clientConfiguration()
    configuration.options.maximumConnections = clients
    let client = PostgresClient(configuration: configuration, backgroundLogger: Logger(label: "raw"))
    let running = Task { await client.run() }
    defer { running.cancel() }
    _ = try await client.query("CREATE SEQUENCE raw_idx")
    let canonical = ByteBuffer(bytes: Array(String(repeating: "x", count: 330).utf8))
    let leaf = ByteBuffer(bytes: [UInt8](repeating: 7, count: 32))
    return try await callRate("raw PostgreSQL INSERT, committed each", seconds: seconds, inFlight: clients) {
      _ = try await client.query("""
        INSERT INTO ledger_entries (idx, canonical, leaf_hash, time, kind, actor, action, resource, outcome)
        VALUES (nextval('raw_idx'), \(canonical), \(leaf), \(Int64(Date().timeIntervalSince1970 * 1e9)), 'audit.event',
          'Service::"billing-worker"', 'charge', 'Invoice::"42"', 'success')
        """)
    }
  }

  static func checkRate(seconds: Double, databasePassword: String? = nil, _ configure: @Sendable (inout CustosServer.Configuration) -> Void) async throws -> Double {
    let (daemon, port, directory) = try await InProcessDaemon.start(databasePassword: databasePassword) {
      $0.authentication = false
      configure(&$0)
    }
    defer {
      daemon.cancel()
      try? FileManager.default.removeItem(at: directory)
    }
    return try await withGRPCClient(
      transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
    ) { client in
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      let request = billingRefundCheck
      _ = try await callRate("warm-up", seconds: 1, inFlight: 64) { _ = try await authz.check(request) }
      return try await callRate("Authorization/Check", seconds: seconds, inFlight: 64) { _ = try await authz.check(request) }
    }
  }

  static func freshDatabase(server: String, password: String) throws -> String {
    let name = "custos_load_\(UInt32.random(in: 0...UInt32.max))"
    _ = try shell("/usr/bin/env", "PGPASSWORD=\(password)", "psql", server, "-qc", "CREATE DATABASE \(name)")
    return server.replacingOccurrences(of: "/postgres", with: "/\(name)")
  }

  static func milliseconds(_ d: Duration) -> Double { LoadSupport.seconds(d) * 1000 }

  @discardableResult
  static func shell(_ arguments: String...) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("clusterload-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: out)
    try process.run()
    process.waitUntilExit()
    defer { try? FileManager.default.removeItem(at: out) }
    return (try String(contentsOf: out, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)
  }
}
