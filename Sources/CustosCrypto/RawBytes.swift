/// Anything that can lend its bytes as one contiguous buffer, without copying.
public protocol RawBytes {
  func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: RawBytes where Element == UInt8 {}
extension ArraySlice: RawBytes where Element == UInt8 {}
extension ContiguousArray: RawBytes where Element == UInt8 {}
extension UnsafeRawBufferPointer: RawBytes {
  public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try body(self) }
}
