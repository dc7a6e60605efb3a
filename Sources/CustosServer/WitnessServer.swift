import CustosCrypto
import CustosLedger
import Foundation
import Hummingbird
import Logging
import NIOCore

/// `custos witness`: a witness over HTTP (`POST /add-checkpoint`, C2SP tlog-witness), with its own
/// Ed25519 key in a 0600 file (created on first start) and its own state file.
public enum WitnessServer {
  public struct Settings: Sendable {
    public var listen: HostPort
    /// The witness's name (a schema-less URL), in its cosignatures.
    public var name: String
    public var keyFile: String
    public var stateFile: String
    /// The verifier keys of the logs it witnesses.
    public var logs: [String]

    public init(listen: HostPort, name: String, keyFile: String, stateFile: String, logs: [String]) {
      self.listen = listen
      self.name = name
      self.keyFile = keyFile
      self.stateFile = stateFile
      self.logs = logs
    }
  }

  /// The witness's public key as clients configure it (a vkey), creating the key file if needed.
  public static func vkey(_ settings: Settings) throws -> String {
    CosignerKey(name: settings.name, publicKey: try Ed25519KeyFile.loadOrCreate(settings.keyFile).publicKey).vkey
  }

  /// Serves until cancelled.
  public static func run(_ settings: Settings, logger: Logger) async throws {
    let logs = try settings.logs.map { text -> NoteVerifier in
      do { return try NoteVerifier(verifierKey: text) } catch { throw Daemon.StartupFailure(description: "--log \(text): \(error)") }
    }
    let witness = try Witness(name: settings.name, key: try Ed25519KeyFile.loadOrCreate(settings.keyFile), logs: logs, statePath: settings.stateFile)
    let router = Router()
    router.post("/add-checkpoint") { request, _ -> Response in
      let body = try await request.body.collect(upTo: 1 << 20)
      let answer = await witness.addCheckpoint(Array(buffer: body))
      return Response(
        status: .init(code: answer.status), headers: [.contentType: answer.contentType], body: .init(byteBuffer: ByteBuffer(string: answer.body)))
    }
    let application = Application(
      router: router,
      configuration: .init(address: .hostname(settings.listen.host, port: settings.listen.port), serverName: "custos-witness"),
      onServerRunning: { channel in
        let bound = channel.localAddress.map { "\($0.ipAddress ?? settings.listen.host):\($0.port ?? settings.listen.port)" } ?? "\(settings.listen)"
        logger.notice("witness listening on \(bound)", metadata: ["name": "\(settings.name)"])
      },
      logger: logger)
    try await application.runService()
  }
}
