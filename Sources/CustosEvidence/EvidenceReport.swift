/// `report.html`: one self-contained page (no scripts, no network) that a compliance officer reads and
/// prints: period and ledger range, decisions over time (inline SVG), denied principals and actions,
/// admin actions, policy versions, failed authentications, and the controls each part supports.
public enum EvidenceReport {
  public static func html(_ summary: EvidenceSummary, manifest: EvidenceManifest, checkpointRoot: String) -> [UInt8] {
    var page = """
      <!DOCTYPE html>
      <html lang="en"><head><meta charset="utf-8"><title>Custos compliance report</title>
      <style>
      body{font:14px/1.45 system-ui,sans-serif;color:#111;max-width:60rem;margin:2rem auto;padding:0 1rem}
      h1{font-size:1.6rem}h2{font-size:1.2rem;border-bottom:1px solid #999;margin-top:2rem}
      table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #bbb;padding:.25rem .4rem;text-align:left;vertical-align:top}
      th{background:#eee}code{font-size:.85em;word-break:break-all}.allow{fill:#2e7d32}.deny{fill:#c62828}
      .controls td:first-child{white-space:nowrap;font-weight:600}
      @media print{body{margin:0;max-width:none}h2{break-after:avoid}table,svg{break-inside:avoid}}
      </style></head><body>
      <h1>Custos compliance report</h1>
      <table>
      <tr><th>Period (UTC)</th><td>\(esc(EvidenceSummary.timestamp(manifest.fromTime))) to \(esc(EvidenceSummary.timestamp(manifest.toTime)))</td></tr>
      <tr><th>Ledger</th><td><code>\(esc(manifest.origin))</code>, entries \(manifest.firstIndex) to \(manifest.lastIndex) (\(manifest.lastIndex - manifest.firstIndex + 1) entries)</td></tr>
      <tr><th>Checkpoint</th><td>tree size \(manifest.treeSize), root <code>\(esc(checkpointRoot))</code></td></tr>
      <tr><th>Verifier key</th><td><code>\(esc(manifest.verifierKey))</code></td></tr>
      <tr><th>Exported</th><td>\(esc(EvidenceSummary.timestamp(manifest.exportedAt))) by <code>\(esc(manifest.exportedBy))</code></td></tr>
      <tr><th>Report filters</th><td>\(manifest.kinds.isEmpty && manifest.actors.isEmpty ? "none" : esc("kinds: \(manifest.kinds.joined(separator: ", ")); actors: \(manifest.actors.joined(separator: ", "))"))</td></tr>
      </table>
      <p>Every figure below is computed from <code>entries.jsonl</code>. Check the bundle offline with
      <code>custos report verify DIR --verifier-key KEY</code> (or any reimplementation of the algorithm in the README)
      before relying on it.</p>

      """
    page += "<h2>Authorization decisions</h2>\n<p>\(summary.allows) allowed, \(summary.denies) denied.</p>\n"
    page += chart(summary.decisionsByDay)
    page += table(["Top denied principals", "Denials"], EvidenceSummary.top(summary.deniedPrincipals).map { [$0.0, "\($0.1)"] })
    page += table(["Top denied actions", "Denials"], EvidenceSummary.top(summary.deniedActions).map { [$0.0, "\($0.1)"] })
    page += "<h2>Administrative actions</h2>\n"
    page += table(["Time (UTC)", "Kind", "Actor", "Resource", "Outcome"], summary.adminActions.prefix(500).map {
      [EvidenceSummary.timestamp($0.time), $0.kind, $0.actor, $0.resource, $0.outcome]
    })
    page += "<h2>Policy-set versions in force</h2>\n"
    page += table(["Activated (UTC)", "Policy-set hash", "By"], summary.policyVersions.map { [EvidenceSummary.timestamp($0.time), $0.detail, $0.actor] })
    page += "<h2>Failed authentications</h2>\n"
    page += table(["Time (UTC)", "Client", "Reason"], summary.failedAuthentications.prefix(500).map {
      [EvidenceSummary.timestamp($0.time), $0.resource, $0.detail]
    })
    page += "<h2>Controls and the evidence for them</h2>\n"
    page += controls(summary)
    page += "</body></html>\n"
    return Array(page.utf8)
  }

  static func controls(_ s: EvidenceSummary) -> String {
    let rows: [[String]] = [
      ["SOC 2 CC6.1", "Logical access is restricted by policy", "\(s.allows + s.denies) authorization decisions with the policy set in force (entries.jsonl, kind authz.decision); policy versions above."],
      ["SOC 2 CC6.2", "Access is granted to registered identities", "Client creations, secret rotations and disablements (admin actions: client.*); \(s.failedAuthentications.count) failed authentications."],
      ["SOC 2 CC6.3", "Access is changed and removed", "Token revocations and client disablements (token.revoke, client.disable); denied decisions by principal."],
      ["SOC 2 CC7.2", "Activity is monitored for anomalies", "The complete, hash-chained entry range with inclusion and consistency proofs (proofs.json, checkpoint.txt); top denied principals and actions."],
      ["ISO/IEC 27001:2022 A.5.15", "Access control", "Policy-set versions and every decision (summary.json: decisions, policy_versions)."],
      ["ISO/IEC 27001:2022 A.8.15", "Logging", "entries.jsonl exactly as stored, signed checkpoint, verifiable offline (manifest.json, manifest.sig)."],
      ["ISO/IEC 27001:2022 A.8.24", "Use of cryptography", "\(s.keyEvents) key events: creations, rotations, destructions, root-key operations (kind key.*)."],
      ["PCI DSS v4.0 3.6–3.7", "Cryptographic key management", "Key rotations (with reason), trims, scheduled and completed destructions, root rotations and seal events (admin actions: key.*)."],
      ["PCI DSS v4.0 10", "Audit logs", "All entries in the range, tamper-evident: every leaf hash and prev link recomputable, Merkle proofs to a signed checkpoint."],
    ]
    return table(["Control", "Asks for", "Evidence in this bundle"], rows, className: "controls")
  }

  /// Stacked daily bars of allowed (green) and denied (red) decisions, drawn as inline SVG.
  static func chart(_ days: [String: (allow: Int, deny: Int)]) -> String {
    let sorted = days.sorted { $0.key < $1.key }
    guard !sorted.isEmpty else { return "<p>No decisions in this period.</p>\n" }
    let maximum = max(1, sorted.map { $0.value.allow + $0.value.deny }.max() ?? 1)
    let width = 720, height = 220, left = 40, bottom = 40
    let slot = max(4, (width - left) / sorted.count)
    let bar = max(2, slot * 3 / 4)
    var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"Decisions per day\">\n"
    svg += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width)\" y2=\"\(height - bottom)\" stroke=\"#333\"/>\n"
    svg += "<text x=\"0\" y=\"12\" font-size=\"11\">\(maximum)</text><text x=\"0\" y=\"\(height - bottom)\" font-size=\"11\">0</text>\n"
    let plot = height - bottom - 10
    for (i, (day, counts)) in sorted.enumerated() {
      let x = left + i * slot
      let allowHeight = counts.allow * plot / maximum
      let denyHeight = counts.deny * plot / maximum
      let base = height - bottom
      svg += "<rect class=\"allow\" x=\"\(x)\" y=\"\(base - allowHeight)\" width=\"\(bar)\" height=\"\(allowHeight)\"><title>\(day): \(counts.allow) allowed</title></rect>\n"
      svg += "<rect class=\"deny\" x=\"\(x)\" y=\"\(base - allowHeight - denyHeight)\" width=\"\(bar)\" height=\"\(denyHeight)\"><title>\(day): \(counts.deny) denied</title></rect>\n"
      if sorted.count <= 31 || i % (sorted.count / 15 + 1) == 0 {
        svg += "<text x=\"\(x)\" y=\"\(height - bottom + 14)\" font-size=\"9\" transform=\"rotate(30 \(x) \(height - bottom + 14))\">\(day)</text>\n"
      }
    }
    svg += "<rect class=\"allow\" x=\"\(width - 150)\" y=\"4\" width=\"10\" height=\"10\"/><text x=\"\(width - 135)\" y=\"13\" font-size=\"11\">allowed</text>\n"
    svg += "<rect class=\"deny\" x=\"\(width - 75)\" y=\"4\" width=\"10\" height=\"10\"/><text x=\"\(width - 60)\" y=\"13\" font-size=\"11\">denied</text>\n"
    return svg + "</svg>\n"
  }

  static func table(_ header: [String], _ rows: [[String]], className: String? = nil) -> String {
    guard !rows.isEmpty else { return "<p>None in this period.</p>\n" }
    var html = "<table\(className.map { " class=\"\($0)\"" } ?? "")><tr>" + header.map { "<th>\(esc($0))</th>" }.joined() + "</tr>\n"
    for row in rows { html += "<tr>" + row.map { "<td>\(esc($0))</td>" }.joined() + "</tr>\n" }
    return html + "</table>\n"
  }

  /// HTML-escapes text (entries are caller-supplied: nothing from them may become markup).
  static func esc(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for c in text {
      switch c {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default: out.append(c)
      }
    }
    return out
  }
}
