import CustosProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import Testing

/// Callers that open streams and never read them: 200 `GetEntries` and 200 `CheckStream` streams over
/// sockets nobody drains. The daemon's memory stays within the stated bound (README, "Limits": about one
/// 16 KiB chunk of entries per stalled stream, plus HTTP/2's buffers), other callers keep being answered,
/// and the daemon serves a full read afterwards.
@Suite struct SlowReadersEndToEndTests {
  static let streamsPerKind = 200
  /// The bound (README): what 400 stalled streams may add to the daemon's resident memory.
  static let memoryBoundBytes = 96 << 20

  @Test func twoHundredStreamsOfEachKindThatNeverReadLeaveOtherCallersServed() async throws {
    let daemon = try await DaemonProcess()
    // 2,000 padded entries (about 0.7 MB as GetEntries sends them): each unread stream has more to send
    // than flow control lets through.
    try await withDaemonClients(port: daemon.grpcPort) { log, _ in
      for batch in 0..<20 { _ = try await log.appendBatch(.with { $0.events = (0..<100).map { auditEvent(batch * 100 + $0, details: Self.padding) } }) }
    }
    let before = try Self.residentBytes(daemon)
    let (latencyBefore, _) = try await Self.checkLatencies(port: daemon.grpcPort, count: 200)

    // A reader that never reads is a socket nobody drains: the client speaks HTTP/2 by hand, opens its
    // streams and never calls recv.
    var readers: [UnreadConnection] = []
    defer { readers.forEach { $0.close() } }
    for _ in 0..<4 {
      readers.append(try UnreadConnection(port: daemon.grpcPort, calls: (0..<Self.streamsPerKind / 4).map { _ in .getEntries }))
    }
    for _ in 0..<20 {
      readers.append(try UnreadConnection(port: daemon.grpcPort, calls: (0..<Self.streamsPerKind / 20).map { _ in .checkStream(requests: 40) }))
    }
    // Under the whole suite's load the daemon may take a while to reach every connection.
    let deadline = ContinuousClock.now + .seconds(30)
    while !readers.allSatisfy({ $0.hasUnreadAnswers() }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
    try await Task.sleep(for: .seconds(2))
    #expect(readers.allSatisfy { $0.hasUnreadAnswers() }, "the daemon speaks to every stalled connection")
    let (latencyDuring, failures) = try await Self.checkLatencies(port: daemon.grpcPort, count: 200)
    let during = try Self.residentBytes(daemon)
    let grown = during - before
    print("""
      slow readers: daemon RSS \(before >> 20) MiB before, \(during >> 20) MiB with \(2 * Self.streamsPerKind) unread streams \
      (+\(grown >> 20) MiB; bound \(Self.memoryBoundBytes >> 20) MiB); other callers' Check p50 \(latencyBefore.p50) → \(latencyDuring.p50), \
      p99 \(latencyBefore.p99) → \(latencyDuring.p99), \(failures) failed
      """)
    #expect(failures == 0, "other callers were answered")
    #expect(grown < Self.memoryBoundBytes, "memory stays within the bound: grew by \(grown >> 20) MiB")
    readers.forEach { $0.close() }
    readers = []
    // The daemon still serves a full read afterwards, every entry once and in order across its chunks
    // (these padded entries fill a 16 KiB chunk well before 512 of them).
    let reread = try await withDaemonClients(port: daemon.grpcPort) { log, _ in
      try await log.getEntries(.with { $0.start = 0; $0.end = 1000 }) { response in
        var indexes: [UInt64] = []
        for try await entry in response.messages { indexes.append(entry.index) }
        return indexes
      }
    }
    #expect(reread == Array(0..<1000))
  }

  static let padding = "{\"note\":\"\(String(repeating: "x", count: 200))\"}"

  static let checkRequest = AuthorizationEndToEndTests.refund(cents: 1299, hour: 10)

  /// `count` unary Checks from a fresh caller, one after another: p50 and p99 (ms) and how many failed.
  static func checkLatencies(port: Int, count: Int) async throws -> ((p50: String, p99: String), Int) {
    try await withGRPCClient(
      transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
    ) { client in
      let authz = Custos_V1_Authorization.Client(wrapping: client)
      var durations: [Duration] = []
      var failures = 0
      for _ in 0..<count {
        let start = ContinuousClock.now
        var options = CallOptions.defaults
        options.timeout = .seconds(10)
        do {
          _ = try await authz.check(checkRequest, options: options)
          durations.append(ContinuousClock.now - start)
        } catch {
          failures += 1
          print("slow readers: a Check failed: \(error)")
        }
      }
      durations.sort()
      func ms(_ q: Double) -> String {
        guard !durations.isEmpty else { return "-" }
        let d = durations[min(durations.count - 1, Int(Double(durations.count) * q))]
        return String(format: "%.2f ms", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000)
      }
      return ((ms(0.5), ms(0.99)), failures)
    }
  }

  /// The daemon's resident set, from /proc.
  static func residentBytes(_ daemon: DaemonProcess) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(daemon.process.processIdentifier)/status", encoding: .utf8)
    let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
    return try #require(Int(line.split(separator: " ").dropFirst().first ?? "")) * 1024
  }
}

/// An HTTP/2 connection written by hand that sends its calls and never reads a byte of the answers.
final class UnreadConnection {
  enum Call {
    /// `GetEntries` for the whole log.
    case getEntries
    /// `CheckStream` with `requests` requests, left open.
    case checkStream(requests: Int)
  }

  private let socket: Int32

  init(port: Int, calls: [Call]) throws {
    socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw POSIXError(.EMFILE) }
    var smallBuffer: Int32 = 4096
    setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &smallBuffer, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { Glibc.close(socket); throw POSIXError(.ECONNREFUSED) }
    var bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + Self.frame(type: 0x4, flags: 0, stream: 0, payload: [])
    for (n, call) in calls.enumerated() {
      let stream = UInt32(2 * n + 1)
      switch call {
      case .getEntries:
        bytes += Self.frame(type: 0x1, flags: 0x4, stream: stream, payload: Self.headers(path: "/custos.v1.AuditLog/GetEntries"))
        bytes += Self.frame(type: 0x0, flags: 0x1, stream: stream, payload: Self.message(Custos_V1_GetEntriesRequest()))
      case .checkStream(let requests):
        bytes += Self.frame(type: 0x1, flags: 0x4, stream: stream, payload: Self.headers(path: "/custos.v1.Authorization/CheckStream"))
        let one = Self.message(SlowReadersEndToEndTests.checkRequest)
        bytes += Self.frame(type: 0x0, flags: 0, stream: stream, payload: Array((0..<requests).map { _ in one }.joined()))
      }
    }
    // The peer's initial windows (64 KiB per stream and per connection until its SETTINGS are read, which
    // they never are) bound what a caller may send.
    precondition(bytes.count < 65_535, "keep each connection's requests within the initial window")
    let written = bytes.withUnsafeBytes { Glibc.write(socket, $0.baseAddress, $0.count) }
    guard written == bytes.count else { Glibc.close(socket); throw POSIXError(.EIO) }
  }

  /// Whether answers are waiting in the socket (peeked, not read).
  func hasUnreadAnswers() -> Bool {
    var byte: UInt8 = 0
    return Glibc.recv(socket, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) == 1
  }

  func close() { Glibc.close(socket) }


  private static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
    var bytes = bigEndian(UInt32(payload.count)).dropFirst() + [type, flags]
    bytes += bigEndian(stream)
    return Array(bytes) + payload
  }

  private static func bigEndian(_ value: UInt32) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
  }

  /// HPACK literal fields without indexing or Huffman coding (RFC 7541 §6.2.2).
  private static func headers(path: String) -> [UInt8] {
    let fields: [(String, String)] = [
      (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1"),
      ("content-type", "application/grpc"), ("te", "trailers"),
    ]
    var block: [UInt8] = []
    for (name, value) in fields {
      block.append(0x00)
      block.append(UInt8(name.utf8.count))
      block += Array(name.utf8)
      block.append(UInt8(value.utf8.count))
      block += Array(value.utf8)
    }
    return block
  }

  /// A gRPC length-prefixed message.
  private static func message(_ request: some SwiftProtobuf.Message) -> [UInt8] {
    let body = [UInt8](try! request.serializedData())
    return [0] + bigEndian(UInt32(body.count)) + body
  }
}
