/// Cedar's `datetime` and `duration` extension values, both in milliseconds.
enum DateTime {
  static let millisecondsPerDay: Int64 = 86_400_000

  /// Parses `YYYY-MM-DD`, optionally followed by `Thh:mm:ss`, optional `.SSS`, and `Z` or `±hhmm`.
  /// Returns milliseconds since the Unix epoch (UTC).
  static func parseDatetime(_ text: String) -> Int64? {
    let c = Array(text.utf8)
    func digits(_ start: Int, _ count: Int) -> Int64? {
      guard start + count <= c.count else { return nil }
      var value: Int64 = 0
      for i in start..<(start + count) {
        guard c[i] >= 0x30, c[i] <= 0x39 else { return nil }
        value = value * 10 + Int64(c[i] - 0x30)
      }
      return value
    }
    guard c.count >= 10, c[4] == UInt8(ascii: "-"), c[7] == UInt8(ascii: "-"),
      let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2),
      (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year)
    else { return nil }
    var ms = daysFromCivil(year: year, month: month, day: day) * millisecondsPerDay
    if c.count == 10 { return ms }
    guard c.count >= 20, c[10] == UInt8(ascii: "T"), c[13] == UInt8(ascii: ":"), c[16] == UInt8(ascii: ":"),
      let hour = digits(11, 2), let minute = digits(14, 2), let second = digits(17, 2), hour < 24, minute < 60, second < 60
    else { return nil }
    ms += ((hour * 60 + minute) * 60 + second) * 1000
    var i = 19
    if c[i] == UInt8(ascii: ".") {
      guard let fraction = digits(i + 1, 3) else { return nil }
      ms += fraction
      i += 4
    }
    guard i < c.count else { return nil }
    if c[i] == UInt8(ascii: "Z") { return i + 1 == c.count ? ms : nil }
    guard c[i] == UInt8(ascii: "+") || c[i] == UInt8(ascii: "-"), i + 5 == c.count,
      let offsetHours = digits(i + 1, 2), let offsetMinutes = digits(i + 3, 2), offsetHours < 24, offsetMinutes < 60
    else { return nil }
    let offset = (offsetHours * 60 + offsetMinutes) * 60_000
    // A local time of +hhmm is that much ahead of UTC.
    return c[i] == UInt8(ascii: "+") ? ms - offset : ms + offset
  }

  /// Parses `[-]` followed by one or more of `Nd`, `Nh`, `Nm`, `Ns`, `Nms`, in that order.
  static func parseDuration(_ text: String) -> Int64? {
    var c = Array(text.utf8)[...]
    var negative = false
    if c.first == UInt8(ascii: "-") {
      negative = true
      c = c.dropFirst()
    }
    guard !c.isEmpty else { return nil }
    let units: [(String, Int64)] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]
    var nextUnit = 0
    var total: Int64 = 0
    while !c.isEmpty {
      var number: Int64 = 0
      var sawDigit = false
      while let d = c.first, d >= 0x30, d <= 0x39 {
        let (times10, o1) = number.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(Int64(d - 0x30))
        guard !o1, !o2 else { return nil }
        number = sum
        sawDigit = true
        c = c.dropFirst()
      }
      guard sawDigit else { return nil }
      var unitText = ""
      while let l = c.first, l >= 0x61, l <= 0x7a {
        unitText.append(Character(Unicode.Scalar(l)))
        c = c.dropFirst()
      }
      guard let found = units[nextUnit...].firstIndex(where: { $0.0 == unitText }) else { return nil }
      nextUnit = found + 1
      let (product, o1) = number.multipliedReportingOverflow(by: units[found].1)
      let (sum, o2) = total.addingReportingOverflow(product)
      guard !o1, !o2 else { return nil }
      total = sum
    }
    return negative ? -total : total
  }

  static func daysIn(month: Int64, year: Int64) -> Int64 {
    switch month {
    case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
  }

  /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
  static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }

  /// Floor division by a day (toDate) and its non-negative remainder (toTime).
  static func splitDay(_ ms: Int64) -> (day: Int64, time: Int64) {
    var time = ms % millisecondsPerDay
    if time < 0 { time += millisecondsPerDay }
    return (ms - time, time)
  }
}
