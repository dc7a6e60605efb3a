/// Timing for the load tools that run outside the benchmark harness (no malloc interposer).

/// A duration in milliseconds.
public func milliseconds(_ duration: Duration) -> Double {
  Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

/// Runs `body` five times, prints the fastest run as `label: N ms` and returns it in milliseconds.
@discardableResult
public func bestOfFive(_ label: String, _ body: () throws -> Void) rethrows -> Double {
  var fastest = Double.infinity
  for _ in 0..<5 {
    let start = ContinuousClock.now
    try body()
    fastest = min(fastest, milliseconds(ContinuousClock.now - start))
  }
  print("\(label): \((fastest * 10).rounded() / 10) ms")
  return fastest
}
