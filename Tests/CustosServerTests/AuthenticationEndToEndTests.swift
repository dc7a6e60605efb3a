import CustosProtocol
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// A custosd with authentication on (the default): which RPCs need no token, and that the rest do.
@Suite struct AuthenticationEndToEndTests {
  @Test func onlyTheBootstrapRPCsWorkWithoutAToken() async throws {
    let daemon = try await DaemonProcess(authenticated: true, sealed: true)
    try await withDaemonClients(port: daemon.grpcPort) { log, client in
      let operators = Custos_V1_Operator.Client(wrapping: client)
      let tokens = Custos_V1_Tokens.Client(wrapping: client)
      // Exempt: health, status, init, the JWKS, issuing a token.
      _ = try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init())
      #expect(try await operators.status(.init()).state == .uninitialized)
      let initialized = try await operators.initialize(.with { $0.passphrase = Data("authentication test passphrase".utf8) })
      #expect(initialized.adminClientID == "admin" && initialized.adminClientSecret.hasPrefix("cs_"))
      _ = try await tokens.getJWKS(.init())
      await KeysEndToEndTests.expectStatus(.unauthenticated, containing: "invalid client credentials") {
        _ = try await tokens.issueToken(.with { $0.clientID = "admin"; $0.clientSecret = "cs_wrong" })
      }
      let token = try await tokens.issueToken(.with {
        $0.clientID = initialized.adminClientID
        $0.clientSecret = initialized.adminClientSecret
      }).accessToken

      // Everything else needs it.
      await KeysEndToEndTests.expectStatus(.unauthenticated, containing: "missing authorization") { _ = try await log.getCheckpoint(.init()) }
      await KeysEndToEndTests.expectStatus(.unauthenticated, containing: "missing authorization") {
        _ = try await Custos_V1_Keys.Client(wrapping: client).listKeyrings(.init())
      }
      await KeysEndToEndTests.expectStatus(.unauthenticated, containing: "missing authorization") { _ = try await operators.seal(.init()) }
      await KeysEndToEndTests.expectStatus(.unauthenticated, containing: "malformed token") {
        _ = try await log.getCheckpoint(.init(), metadata: ["authorization": "Bearer x.y.z"])
      }
      let bearer: Metadata = ["authorization": "Bearer \(token)"]
      #expect(try await log.getCheckpoint(.init(), metadata: bearer).size > 0)
      // The admin's key and token operations are authorized by the policy set and recorded.
      _ = try await Custos_V1_Keys.Client(wrapping: client).createKeyring(.with { $0.name = "auth-test" }, metadata: bearer)
      let decisions = try await log.query(.with { $0.kind = "authz.decision" }, metadata: bearer) { response in
        try await response.messages.reduce(into: [String]()) { $0.append(String(decoding: $1.canonical, as: UTF8.self)) }
      }
      #expect(decisions.contains { $0.contains("custos:keys.create") && $0.contains("\"outcome\":\"allow\"") && $0.contains("\"admin\":true") })
      // Internal keyrings (the token signing key's) are not reachable through the API.
      await KeysEndToEndTests.expectStatus(.invalidArgument, containing: "reserved") {
        _ = try await Custos_V1_Keys.Client(wrapping: client).getKeyring(.with { $0.name = "custos.token-signing" }, metadata: bearer)
      }
    }
  }
}
