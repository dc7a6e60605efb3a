import CustosProtocol
import CustosServer
import CustosStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import LoadSupport
import Synchronization

/// A soak: mixed `Append`, `Check` and `Encrypt` calls (round robin) with authentication on, plus one
/// `IssueToken` a second, against an in-process custosd for `minutes`, at half the capacity measured
/// first. Every second it samples the process's own resident memory (and, apart, the database file pages
/// SQLite maps); every 10 s it reports the window's median of those and the window's latencies.
/// Goals: 0 errors, RSS growth < 5 % after warm-up, every minute's p99 within 2x of the first minute's.
/// Warm-up is the first minute unless `warm-up-minutes` says more: buffers and containers that keep their
/// largest size grow whenever the load peaks higher than before, so the live heap rises for 6-10 minutes
/// (a 25-minute run's) before it levels off.
///
/// Two ways to keep to the rate. `open` (the default) starts a call every 1/rate s whatever is still
/// running (up to 1,024 at once; past that a call is refused and counted as an error), so when the
/// host slows, calls pile up and their latency counts the queue. `bounded` keeps at most as many calls
/// in flight as the capacity was measured with: when all are busy it waits for one and drops the
/// missed starts instead of bursting, so a slower host gives fewer calls, not a longer queue (and a
/// call's latency no longer counts the wait before it started).
///
/// The daemon caches every token it has verified until the token expires (900 s by default), and the
/// soak issues one a second, so for the first 16 minutes the cache grows by about 60 tokens a minute.
/// `token-ttl-seconds` makes the soak's tokens shorter-lived (a client of its own, an admin like the
/// first), so the cache reaches its steady size inside the run.
///
///   swift run -c release SoakLoad [minutes] [capacity-in-flight] [open|bounded] [token-ttl-seconds] [warm-up-minutes]
@main
struct SoakLoad {
  static func main() async throws {
    let minutes = argument(1, default: 10.0)
    let inFlight = argument(2, default: 32)
    let bounded = CommandLine.arguments.count > 3 && CommandLine.arguments[3] == "bounded"
    let tokenTTL = argument(4, default: Int64(0))
    let warmUpMinutes = max(1, argument(5, default: 1))
    let (daemon, port, directory) = try await InProcessDaemon.start()
    let firstAdmin = try initialAdminTokenRequest(daemonDirectory: directory)
    try await withGRPCClient(transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)) { client in
      let tokens = Custos_V1_Tokens.Client(wrapping: client)
      let issueRequest = tokenTTL > 0 ? try await shortLivedClient(tokens, admin: firstAdmin, tokenTTL: tokenTTL) : firstAdmin
      let bearer: Metadata = ["authorization": "Bearer \(try await tokens.issueToken(issueRequest).accessToken)"]
      _ = try await Custos_V1_Keys.Client(wrapping: client).createKeyring(.with { $0.name = "soak" }, metadata: bearer)
      let mixed = MixedCall(client: client, bearer: bearer)

      let capacity = await sampleLatencies(seconds: 10, inFlight: inFlight) { try await mixed.next() }
      let rate = capacity.callsPerSecond / 2
      say(String(format: "capacity (%d in flight): %@; soak at %.0f calls/s for %.0f min, %@, tokens live %@", inFlight, capacity.summary, rate, minutes,
        bounded ? "at most \(inFlight) in flight" : "open (up to 1,024 in flight)", tokenTTL > 0 ? "\(tokenTTL) s" : "900 s"))

      let state = SoakState()
      let issuer = Task {
        while !Task.isCancelled {
          let start = ContinuousClock.now
          do {
            // The fresh token replaces the callers' one, so a soak may outlast a token's lifetime.
            state.issuing.store(true, ordering: .sequentiallyConsistent)
            defer { state.issuing.store(false, ordering: .sequentiallyConsistent) }
            let token = try await tokens.issueToken(issueRequest).accessToken
            mixed.bearer.withLock { $0 = ["authorization": "Bearer \(token)"] }
            state.current.withLock { $0.tokens += 1 }
          } catch {
            state.current.withLock { $0.errors += 1 }
          }
          try? await Task.sleep(until: start + .seconds(1))
        }
      }
      // Memory is sampled every second, between IssueToken calls, and each window reports the median:
      // a sample taken while an IssueToken's Argon2id check holds its 19 MiB buffer (mapped for the
      // check, unmapped after it) says nothing about growth, and on a busy machine the check can take
      // more than half of every second.
      let sampler = Task {
        while !Task.isCancelled {
          for _ in 0..<50 where state.issuing.load(ordering: .sequentiallyConsistent) { try? await Task.sleep(for: .milliseconds(20)) }
          let resident = residentBytes()
          let allocator = AllocatorStatistics.current()
          let inFlight = state.outstanding.load(ordering: .relaxed)
          state.memoryTrace.withLock {
            $0.append(MemorySample(anonymous: resident.anonymous, file: resident.file, inFlight: inFlight, allocator: allocator))
          }
          try? await Task.sleep(for: .seconds(1))
        }
      }
      let end = ContinuousClock.now + .milliseconds(Int(minutes * 60_000))
      let interval = Duration.nanoseconds(Int64(1e9 / rate))
      var next = ContinuousClock.now
      var nextSample = ContinuousClock.now + .seconds(10)
      // A discarding group: a plain task group keeps every finished child until it is awaited.
      await withDiscardingTaskGroup { group in
        while ContinuousClock.now < end {
          next += interval
          try? await Task.sleep(until: next)
          if bounded && state.outstanding.load(ordering: .relaxed) >= inFlight {
            while state.outstanding.load(ordering: .relaxed) >= inFlight { try? await Task.sleep(for: .microseconds(200)) }
            state.current.withLock { $0.deferred += 1 }
            next = ContinuousClock.now
          }
          if state.outstanding.load(ordering: .relaxed) >= 1024 {
            state.current.withLock { $0.skipped += 1 }
          } else {
            state.outstanding.add(1, ordering: .relaxed)
            group.addTask {
              let start = ContinuousClock.now
              do {
                try await mixed.next()
                let took = ContinuousClock.now - start
                state.current.withLock { $0.durations.append(took) }
              } catch {
                state.current.withLock { $0.errors += 1 }
              }
              state.outstanding.subtract(1, ordering: .relaxed)
            }
          }
          if ContinuousClock.now >= nextSample {
            nextSample += .seconds(10)
            var window = state.current.withLock { window in
              defer { window = Window() }
              return window
            }
            let samples = state.memorySamplesSinceLastWindow()
            (window.residentBytes, window.residentFileBytes) = Self.median(samples)
            window.allocator = samples.last?.allocator ?? AllocatorStatistics.current()
            window.sqliteBytes = SQLiteStore.memoryInUse
            say(window.line(index: state.windows.withLock { $0.count }))
            state.keep(window)
          }
        }
      }
      issuer.cancel()
      sampler.cancel()
      report(state.windows.withLock { $0 }, minutes: state.minutes.withLock { $0 }, warmUpMinutes: warmUpMinutes)
      reportMemoryTrend(state.memoryTrace.withLock { $0 }, warmUpMinutes: warmUpMinutes)
    }
    daemon.cancel()
    _ = await daemon.result
    try? FileManager.default.removeItem(at: directory)
  }

  /// Creates an admin client whose tokens live `tokenTTL` seconds; answers its `IssueToken` request.
  static func shortLivedClient(
    _ tokens: Custos_V1_Tokens.Client<HTTP2ClientTransport.Posix>, admin: Custos_V1_IssueTokenRequest, tokenTTL: Int64
  ) async throws -> Custos_V1_IssueTokenRequest {
    let bearer: Metadata = ["authorization": "Bearer \(try await tokens.issueToken(admin).accessToken)"]
    let created = try await tokens.createClient(.with {
      $0.clientID = "soak"; $0.displayName = "Soak load"; $0.roles = ["Role::\"admin\""]; $0.audiences = ["custos"]; $0.tokenTtlSeconds = tokenTTL
    }, metadata: bearer)
    return .with { $0.clientID = "soak"; $0.clientSecret = created.clientSecret }
  }

  /// Ten seconds of calls. Only the current window and minute keep their latencies: the load generator
  /// shares the daemon's process, and keeping every call's latency for the report grew its memory by
  /// 16 bytes a call (34 KB/s at 2,100 calls/s), which an earlier soak counted as the daemon's.
  struct Window: Sendable {
    var durations: [Duration] = []
    var calls = 0
    var errors = 0
    var skipped = 0
    /// Starts the bounded mode waited for a free slot for (the missed ones are dropped).
    var deferred = 0
    var tokens = 0
    /// What SQLite held (page caches, statements) when the window closed: part of `residentBytes`.
    var sqliteBytes = 0
    var residentBytes = 0
    var residentFileBytes = 0
    /// The allocator's live and free bytes at the window's last sample: part of `residentBytes`.
    var allocator = AllocatorStatistics(live: 0, freeInArenas: 0)

    func percentile(_ q: Double) -> Double {
      LatencySample(durations: durations, errors: errors, elapsed: .seconds(10)).percentile(q)
    }

    func line(index: Int) -> String {
      String(format: "%4d s: %6d calls, p50 %.2f ms, p99 %.2f ms, %d errors, %d deferred, %d tokens, RSS %d MiB own (SQLite %.1f MiB; malloc live %.1f, free %.1f MiB) + %d MiB mapped file",
        (index + 1) * 10, durations.count, percentile(0.5), percentile(0.99), errors + skipped, deferred, tokens, residentBytes >> 20,
        Double(sqliteBytes) / 1_048_576, Double(allocator.live) / 1_048_576, Double(allocator.freeInArenas) / 1_048_576, residentFileBytes >> 20)
    }
  }

  /// A minute's latency percentiles (ms), kept once its windows are done.
  struct Minute: Sendable {
    var p50: Double
    var p99: Double
  }

  static func report(_ windows: [Window], minutes: [Minute], warmUpMinutes: Int) {
    guard windows.count >= 6 * (warmUpMinutes + 1), minutes.count >= warmUpMinutes + 1 else {
      print("too short for a report (needs \(warmUpMinutes + 1) minutes)")
      return
    }
    let firstP99 = minutes[0].p99
    let worst = minutes.map { $0.p99 / firstP99 }.max() ?? 0
    let errors = windows.reduce(0) { $0 + $1.errors + $1.skipped }
    let warm = windows[6 * warmUpMinutes - 1].residentBytes
    let last = windows.last!.residentBytes
    let peak = windows.map(\.residentBytes).max()!
    print(String(format: """
      soak: %d calls, %d errors (goal 0), %d starts deferred; own RSS (anonymous) after %d min of warm-up %d MiB, at the end %d MiB (%+.1f %%, peak %d MiB; goal < 5 %%); \
      p99 first minute %.2f ms, worst minute %.2fx of it (goal ≤ 2x); p50 first/last minute %.2f / %.2f ms
      """, windows.reduce(0) { $0 + $1.calls }, errors, windows.reduce(0) { $0 + $1.deferred }, warmUpMinutes, warm >> 20, last >> 20,
      Double(last - warm) / Double(warm) * 100, peak >> 20, firstP99, worst, minutes[0].p50, minutes.last!.p50))
  }

  /// The own-memory growth from every per-second sample, not from two 10-second windows (which the
  /// load's own swings move by more than 5 %): the median of the first minute after warm-up against the
  /// median of the last; the least-squares trend of every sample after warm-up, which a leak would
  /// show; and that trend at equal calls in flight (a regression on time and calls in flight), since
  /// the load runs at a fixed rate and a slower machine holds more calls, each with its buffers, at once.
  static func reportMemoryTrend(_ trace: [MemorySample], warmUpMinutes: Int) {
    let warmUp = 60 * warmUpMinutes
    guard trace.count >= warmUp + 120 else { return }
    func median(_ samples: ArraySlice<MemorySample>) -> Double { Double(samples.map(\.anonymous).sorted()[samples.count / 2]) }
    let first = median(trace[warmUp..<(warmUp + 60)]), last = median(trace[(trace.count - 60)...])
    let points = trace[warmUp...].enumerated().map { (t: Double($0.offset), load: Double($0.element.inFlight), y: Double($0.element.anonymous)) }
    let n = Double(points.count)
    let mean = (t: points.reduce(0) { $0 + $1.t } / n, load: points.reduce(0) { $0 + $1.load } / n, y: points.reduce(0) { $0 + $1.y } / n)
    func sum(_ term: ((t: Double, load: Double, y: Double)) -> Double) -> Double { points.reduce(0) { $0 + term($1) } }
    let tt = sum { ($0.t - mean.t) * ($0.t - mean.t) }, ll = sum { ($0.load - mean.load) * ($0.load - mean.load) }
    let tl = sum { ($0.t - mean.t) * ($0.load - mean.load) }
    let yt = sum { ($0.y - mean.y) * ($0.t - mean.t) }, yl = sum { ($0.y - mean.y) * ($0.load - mean.load) }
    let slope = yt / tt
    let determinant = tt * ll - tl * tl
    let (slopeAtEqualLoad, perCall) = determinant > 0 ? ((yt * ll - yl * tl) / determinant, (yl * tt - yt * tl) / determinant) : (slope, 0)
    let span = n - 1
    // The same trend for what the allocator holds live and free: a leak grows `live`, fragmentation `free`.
    let afterWarmUp = trace[warmUp...]
    say(String(format: "allocator after warm-up (minute %d on): live %+.1f KiB/min, free in arenas %+.1f KiB/min", warmUpMinutes,
      kibPerMinute(afterWarmUp, \.allocator.live), kibPerMinute(afterWarmUp, \.allocator.freeInArenas)))
    // Warm-up grows ever more slowly; a leak keeps its pace. The second half alone tells them apart.
    let half = trace[(trace.count / 2)...]
    say(String(format: "second half (from minute %.1f): own RSS %+.1f KiB/min, allocator live %+.1f KiB/min, free %+.1f KiB/min",
      Double(trace.count / 2) / 60, kibPerMinute(half, \.anonymous), kibPerMinute(half, \.allocator.live),
      kibPerMinute(half, \.allocator.freeInArenas)))
    say(String(format: """
      own RSS from %d per-second samples: median of minute %d (the first after warm-up) %.1f MiB, last-minute median %.1f MiB \
      (%+.1f %%; goal < 5 %%); least-squares trend after warm-up %+.1f KiB/min (%+.1f %% over the %.0f min fitted); at equal calls in flight \
      %+.1f KiB/min (%+.1f %%), and %.1f KiB per call in flight (%.1f in flight on average, %d at most)
      """, trace.count, warmUpMinutes + 1, first / 1_048_576, last / 1_048_576, (last - first) / first * 100,
      slope * 60 / 1024, slope * span / (mean.y - slope * mean.t) * 100, span / 60,
      slopeAtEqualLoad * 60 / 1024, slopeAtEqualLoad * span / mean.y * 100, perCall / 1024, mean.load,
      afterWarmUp.map(\.inFlight).max() ?? 0))
  }

  /// The least-squares slope of `value` over per-second `samples`, in KiB per minute.
  static func kibPerMinute(_ samples: ArraySlice<MemorySample>, _ value: (MemorySample) -> Int) -> Double {
    let ys = samples.map { Double(value($0)) }
    let n = Double(ys.count), meanT = (n - 1) / 2, meanY = ys.reduce(0, +) / n
    let spread = ys.indices.reduce(0.0) { $0 + (Double($1) - meanT) * (Double($1) - meanT) }
    return ys.enumerated().reduce(0.0) { $0 + (Double($1.offset) - meanT) * ($1.element - meanY) } / spread * 60 / 1024
  }

  /// Prints at once, so a run written to a file can be watched.
  static func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
  }

  /// The median of a window's memory samples (each kind apart); the current memory if there are none.
  static func median(_ samples: [MemorySample]) -> (anonymous: Int, file: Int) {
    guard !samples.isEmpty else { return residentBytes() }
    let anonymous = samples.map(\.anonymous).sorted(), file = samples.map(\.file).sorted()
    return (anonymous[anonymous.count / 2], file[file.count / 2])
  }

  /// The process's resident memory that is its own (anonymous) and the rest it maps (SQLite maps the
  /// growing database file; the WAL index is shared memory), from /proc/self/smaps_rollup. Not from
  /// /proc/self/status: this kernel (6.18) keeps `RssAnon` in per-CPU counters and reports an
  /// approximate sum — 30–36 MiB there while the page tables held 22–23 MiB.
  static func residentBytes() -> (anonymous: Int, file: Int) {
    guard let rollup = try? String(contentsOfFile: "/proc/self/smaps_rollup", encoding: .utf8) else { return (0, 0) }
    func kib(_ field: String) -> Int {
      guard let line = rollup.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
        let value = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
      else { return 0 }
      return value * 1024
    }
    let anonymous = kib("Anonymous:")
    return (anonymous, max(0, kib("Rss:") - anonymous))
  }

}

/// What the callers record, shared with the sampler.
final class SoakState: Sendable {
  let current = Mutex(SoakLoad.Window())
  /// Every window, without its latencies.
  let windows = Mutex<[SoakLoad.Window]>([])
  /// The latencies of the minute in progress.
  let minute = Mutex<[Duration]>([])
  let minutes = Mutex<[SoakLoad.Minute]>([])
  let outstanding = Atomic<Int>(0)
  /// True while an IssueToken call is in flight.
  let issuing = Atomic<Bool>(false)
  /// The resident memory, sampled every second, with the calls in flight then.
  let memoryTrace = Mutex<[MemorySample]>({
    var trace: [MemorySample] = []
    trace.reserveCapacity(4 * 3600)
    return trace
  }())

  /// Where the samples of the window in progress start in `memoryTrace`.
  private let windowStart = Mutex(0)

  /// The memory samples taken since the last window closed.
  func memorySamplesSinceLastWindow() -> [MemorySample] {
    memoryTrace.withLock { trace in
      windowStart.withLock { start in
        defer { start = trace.count }
        return Array(trace[start...])
      }
    }
  }

  /// Files a finished window: its latencies join the minute's, and every sixth window closes a minute.
  func keep(_ window: SoakLoad.Window) {
    var kept = window
    kept.calls = window.durations.count
    kept.durations = []
    let count = windows.withLock { $0.append(kept); return $0.count }
    let closed: [Duration]? = minute.withLock { minute in
      minute += window.durations
      guard count.isMultiple(of: 6) else { return nil }
      defer { minute.removeAll(keepingCapacity: true) }
      return minute
    }
    if let closed {
      let sample = LatencySample(durations: closed, errors: 0, elapsed: .seconds(60))
      minutes.withLock { $0.append(SoakLoad.Minute(p50: sample.percentile(0.5), p99: sample.percentile(0.99))) }
    }
  }
}

/// Append, Check and Encrypt in turn, each authenticated.
final class MixedCall: Sendable {
  let log: Custos_V1_AuditLog.Client<HTTP2ClientTransport.Posix>
  let authz: Custos_V1_Authorization.Client<HTTP2ClientTransport.Posix>
  let keys: Custos_V1_Keys.Client<HTTP2ClientTransport.Posix>
  let bearer: Mutex<Metadata>
  let turn = Atomic<Int>(0)

  init(client: GRPCClient<HTTP2ClientTransport.Posix>, bearer: Metadata) {
    log = Custos_V1_AuditLog.Client(wrapping: client)
    authz = Custos_V1_Authorization.Client(wrapping: client)
    keys = Custos_V1_Keys.Client(wrapping: client)
    self.bearer = Mutex(bearer)
  }

  func next() async throws {
    let n = turn.add(1, ordering: .relaxed).newValue
    let bearer = self.bearer.withLock { $0 }
    switch n % 3 {
    case 0:
      _ = try await log.append(.with {
        $0.event = .with {
          $0.kind = "soak.event"
          $0.actor = "Service::\"soak\""
          $0.action = "write"
          $0.resource = "Item::\"\(n)\""
          $0.outcome = "ok"
          $0.details = Data("{\"n\":\(n)}".utf8)
        }
      }, metadata: bearer)
    case 1: _ = try await authz.check(billingRefundCheck, metadata: bearer)
    default: _ = try await keys.encrypt(.with { $0.keyring = "soak"; $0.plaintext = Data(count: 1024) }, metadata: bearer)
    }
  }
}

/// One second's resident memory: the process's own (anonymous) bytes, the file pages it maps, the calls
/// in flight then, and what the allocator held.
struct MemorySample: Sendable {
  var anonymous: Int
  var file: Int
  var inFlight: Int
  var allocator: AllocatorStatistics
}
