/// The block of AES-GCM uses a reservation takes, whatever the store.
enum UsageBlock {
  /// Up to `count` uses after the `stored` reservation, never past `limit` (empty once it is reached);
  /// a reservation is never lowered.
  static func next(after stored: UInt64, count: UInt64, limit: UInt64) -> Range<UInt64> {
    let end = max(stored, min(limit, stored.addingReportingOverflow(count).overflow ? limit : stored + count))
    return stored..<end
  }
}
