import GRPCCore
import NIOCore
import NIOPosix

/// Waits until the gRPC transport's event loops have run everything queued to them before the call.
///
/// Why: grpc-swift's server writer hands each write to the connection's event loop asynchronously, and
/// suspends a writer only once that loop has seen the stream go unwritable. A producer faster than the
/// loop (a `GetEntries` reading from storage) can queue its whole answer before flow control is noticed,
/// so a caller that never reads would pin all of it in memory. Waiting here after each bounded chunk
/// lets the next write see the stream's real writability: a stalled stream holds at most about one chunk.
struct TransportWriteBarrier: Sendable {
  private let loops: [any EventLoop]

  /// The event loops the gRPC server transport runs on (Daemon passes this group to it).
  static let serverLoops = MultiThreadedEventLoopGroup.singleton

  /// A barrier over the server transport's loops.
  static let serverTransport = TransportWriteBarrier(group: serverLoops)

  /// A barrier over every loop of `group`, the group the server transport runs on.
  init(group: any EventLoopGroup) {
    loops = Array(group.makeIterator())
  }

  /// Returns once every loop has run the tasks queued to it before this call (loops run queued tasks in
  /// order), so writes made before it have reached their streams' flow control.
  func wait() async {
    for loop in loops {
      try? await loop.submit {}.get()
    }
  }
}

extension RPCWriter {
  /// Writes one chunk of a streamed answer, then waits for the transport to take it in
  /// (`TransportWriteBarrier`), so the next chunk is produced only if flow control allows it.
  func writeChunk(contentsOf elements: some Sequence<Element>) async throws {
    try await write(contentsOf: elements)
    await TransportWriteBarrier.serverTransport.wait()
  }

  /// `writeChunk(contentsOf:)` for a chunk that is one message.
  func writeChunk(_ element: Element) async throws {
    try await writeChunk(contentsOf: CollectionOfOne(element))
  }
}
