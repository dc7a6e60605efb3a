/// Which nodes are answering: a node that failed (no connection, UNAVAILABLE) is skipped until a health
/// check finds it serving again; calls go to the first healthy node from the preferred one.
actor EndpointHealth {
  private var down: [Bool]
  private var preferred = 0

  init(count: Int) {
    down = Array(repeating: false, count: count)
  }

  /// The node for the next attempt: the preferred one if healthy, else the next healthy one; if every
  /// node is down, each in turn (one of them may be back before its health check says so).
  func pick() -> Int {
    for step in 0..<down.count {
      let index = (preferred + step) % down.count
      if !down[index] { return index }
    }
    defer { preferred = (preferred + 1) % down.count }
    return preferred
  }

  func failed(_ index: Int) {
    down[index] = true
    if preferred == index { preferred = (index + 1) % down.count }
  }

  func serving(_ index: Int) {
    down[index] = false
  }

  var unhealthy: [Int] { down.indices.filter { down[$0] } }
}
