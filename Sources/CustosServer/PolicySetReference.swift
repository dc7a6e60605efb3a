import Synchronization

/// The active policy set once it exists: the change listener starts before it, so a push announced
/// meanwhile is picked up by the set's own first load.
final class PolicySetReference: Sendable {
  private let set = Mutex<ActivePolicySet?>(nil)

  var value: ActivePolicySet? {
    get { set.withLock { $0 } }
    set { self.set.withLock { $0 = newValue } }
  }
}
