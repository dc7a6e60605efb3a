import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on 127.0.0.1 in front of a daemon that injects the faults networks make: with
/// probability `faultRate`, a chunk of the server's answer is not delivered because the connection is
/// dropped (after the request reached the server), delivered only after `delay` (past the caller's
/// deadline), or the connection is reset. Threads and blocking sockets: nothing shared with the code
/// under test.
final class FaultProxy: @unchecked Sendable {
  // @unchecked Sendable: `listener` and `port` are set in init and only read afterwards; the counters
  // and `closed` are guarded by `lock`.
  enum Fault: CaseIterable { case drop, delay, reset }

  let port: Int
  private let listener: Int32
  private let upstreamPort: Int
  private let faultRate: Double
  private let delay: TimeInterval
  private let lock = NSLock()
  private var closed = false
  private var injected: [Fault: Int] = [:]

  init(upstreamPort: Int, faultRate: Double, delay: TimeInterval = 0.4) throws {
    self.upstreamPort = upstreamPort
    self.faultRate = faultRate
    self.delay = delay
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var address = Self.loopback(port: 0)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard bound == 0, listen(fd, 64) == 0 else { throw ProxyFailure(description: "cannot listen: \(String(cString: strerror(errno)))") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    listener = fd
    port = Int(UInt16(bigEndian: address.sin_port))
    Thread.detachNewThread { [self] in acceptLoop() }
  }

  /// How many faults of each kind were injected.
  var faults: [Fault: Int] { lock.withLock { injected } }

  func close() {
    lock.withLock { closed = true }
    shutdown(listener, Int32(SHUT_RDWR))
    Glibc.close(listener)
  }

  deinit { close() }

  private func acceptLoop() {
    while true {
      let client = accept(listener, nil, nil)
      guard client >= 0 else {
        if lock.withLock({ closed }) { return }
        continue
      }
      let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      var address = Self.loopback(port: upstreamPort)
      let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
      }
      guard connected == 0 else {
        Glibc.close(client)
        Glibc.close(upstream)
        continue
      }
      let pair = Connection(client: client, upstream: upstream)
      Thread.detachNewThread { [self] in pump(from: client, to: upstream, pair, injecting: false) }
      Thread.detachNewThread { [self] in pump(from: upstream, to: client, pair, injecting: true) }
    }
  }

  /// One proxied connection's two sockets. Ending it shuts both down at once, but the descriptors are
  /// closed only when both pumps have stopped: a pump still sleeping on a delayed chunk must never
  /// write into a descriptor number the kernel has given to a newer connection.
  private final class Connection: @unchecked Sendable {
    // @unchecked Sendable: the descriptors never change; `ended` and `pumps` are guarded by `lock`.
    let client: Int32
    let upstream: Int32
    private let lock = NSLock()
    private var ended = false
    private var pumps = 2

    init(client: Int32, upstream: Int32) {
      self.client = client
      self.upstream = upstream
    }

    var isOpen: Bool { lock.withLock { !ended } }

    /// Ends the connection: a FIN both ways, or with `reset` an RST to the caller when it is closed.
    func end(reset: Bool = false) {
      guard lock.withLock({ defer { ended = true }; return !ended }) else { return }
      if reset {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
      }
      shutdown(client, Int32(SHUT_RDWR))
      shutdown(upstream, Int32(SHUT_RDWR))
    }

    /// A pump stopped; the last one closes the descriptors.
    func pumpStopped() {
      end()
      guard lock.withLock({ pumps -= 1; return pumps == 0 }) else { return }
      Glibc.close(client)
      Glibc.close(upstream)
    }
  }

  private func pump(from source: Int32, to destination: Int32, _ connection: Connection, injecting: Bool) {
    defer { connection.pumpStopped() }
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
      let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
      guard count > 0 else { return }
      if injecting, Double.random(in: 0..<1) < faultRate {
        let fault = Fault.allCases.randomElement()!
        lock.withLock { injected[fault, default: 0] += 1 }
        switch fault {
        case .drop:
          connection.end()
          return
        case .reset:
          connection.end(reset: true)
          return
        case .delay:
          Thread.sleep(forTimeInterval: delay)
          guard connection.isOpen else { return }
        }
      }
      var sent = 0
      while sent < count {
        let n = buffer.withUnsafeBytes { send(destination, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
        guard n > 0 else { return }
        sent += n
      }
    }
  }

  private static func loopback(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
  }
}

struct ProxyFailure: Error, CustomStringConvertible {
  let description: String
}
