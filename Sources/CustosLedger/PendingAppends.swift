/// An append waiting for its batch, with the continuation its caller waits on.
struct PendingAppend: Sendable {
  var events: [EncodedEvent]
  var claim: IdempotencyClaim?
  var continuation: CheckedContinuation<AppendOutcome, any Error>
}

/// The appends waiting for a batch, in arrival order, and the idempotency keys of those taken into a
/// batch not answered yet. The ledger keeps it behind a `Mutex` rather than in its actor, so the writer
/// thread can take in what arrived while a batch is rebuilt on another node's appends.
struct PendingAppends: Sendable {
  private(set) var waiting: [PendingAppend] = []
  /// Keys of requests taken into a batch not yet answered: a retry under one of them waits its turn.
  private var claimsInFlight: Set<IdempotencyKey> = []

  var isEmpty: Bool { waiting.isEmpty }

  mutating func enqueue(_ append: PendingAppend) {
    waiting.append(append)
  }

  /// Whole requests from the front, up to `maximumEntries` (a larger request goes alone); a retry whose
  /// key is in flight (or taken already) stays queued, in order, until that is answered.
  mutating func takeBatch(maximumEntries: Int) -> [PendingAppend] {
    var taken: [PendingAppend] = []
    var left: [PendingAppend] = []
    var count = 0
    var position = 0
    while position < waiting.count {
      let next = waiting[position]
      position += 1
      if let key = next.claim?.key {
        guard !claimsInFlight.contains(key) else {
          left.append(next)
          continue
        }
      }
      guard taken.isEmpty || count + next.events.count <= maximumEntries else {
        position -= 1
        break
      }
      if let key = next.claim?.key { claimsInFlight.insert(key) }
      taken.append(next)
      count += next.events.count
    }
    waiting = left + waiting[position...]
    return taken
  }

  /// Requests without an idempotency key, in order, as many as fit in `room` entries. A batch being
  /// rebuilt takes only these: its store read the stored idempotency records of its own keys alone.
  mutating func takeUnclaimed(room: Int) -> [PendingAppend] {
    var taken: [PendingAppend] = []
    var left: [PendingAppend] = []
    var room = room
    for request in waiting {
      if request.claim == nil, request.events.count <= room {
        room -= request.events.count
        taken.append(request)
      } else {
        left.append(request)
      }
    }
    waiting = left
    return taken
  }

  /// `requests` were answered: a retry under one of their keys may be taken now.
  mutating func answered(_ requests: [PendingAppend]) {
    claimsInFlight.subtract(requests.compactMap(\.claim?.key))
  }

  /// `requests` go back to the front of the queue, unanswered, in order.
  mutating func requeue(_ requests: [PendingAppend]) {
    answered(requests)
    waiting.insert(contentsOf: requests, at: 0)
  }

  /// Empties the queue.
  mutating func removeAll() -> [PendingAppend] {
    defer { waiting.removeAll() }
    return waiting
  }

  /// Whether every waiting request is a retry whose original is in a batch (so none can be taken now).
  var onlyRetriesOfClaimsInFlight: Bool {
    waiting.allSatisfy { $0.claim.map { claimsInFlight.contains($0.key) } ?? false }
  }
}
