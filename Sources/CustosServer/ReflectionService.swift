import CustosProtocol
import Foundation
import GRPCCore
import SwiftProtobuf

/// `grpc.reflection.v1.ServerReflection`, answering from the descriptors generated beside our protocol
/// code, so grpcurl-style tools can discover and call Custos without the .proto files.
struct ReflectionService: Grpc_Reflection_V1_ServerReflection.SimpleServiceProtocol {
  private let files: [String: Google_Protobuf_FileDescriptorProto]
  private let serializedFiles: [String: Data]
  private let fileBySymbol: [String: String]
  private let serviceNames: [String]

  init() throws {
    let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: Data(base64Encoded: ProtocolDescriptors.fileDescriptorSetBase64)!)
    var files: [String: Google_Protobuf_FileDescriptorProto] = [:]
    var serialized: [String: Data] = [:]
    var symbols: [String: String] = [:]
    var services: [String] = []
    for file in set.file {
      files[file.name] = file
      serialized[file.name] = try file.serializedBytes()
      let prefix = file.package.isEmpty ? "" : file.package + "."
      for message in file.messageType { Self.index(message, prefix: prefix, file: file.name, into: &symbols) }
      for enumeration in file.enumType { symbols[prefix + enumeration.name] = file.name }
      for service in file.service {
        let name = prefix + service.name
        symbols[name] = file.name
        services.append(name)
        for method in service.method { symbols[name + "." + method.name] = file.name }
      }
    }
    self.files = files
    self.serializedFiles = serialized
    self.fileBySymbol = symbols
    self.serviceNames = services.sorted()
  }

  private static func index(_ message: Google_Protobuf_DescriptorProto, prefix: String, file: String, into symbols: inout [String: String]) {
    let name = prefix + message.name
    symbols[name] = file
    for nested in message.nestedType { index(nested, prefix: name + ".", file: file, into: &symbols) }
    for enumeration in message.enumType { symbols[name + "." + enumeration.name] = file }
  }

  func serverReflectionInfo(
    request: RPCAsyncSequence<Grpc_Reflection_V1_ServerReflectionRequest, any Error>,
    response: RPCWriter<Grpc_Reflection_V1_ServerReflectionResponse>, context: ServerContext
  ) async throws {
    for try await message in request {
      try await response.write(answer(message))
    }
  }

  func answer(_ request: Grpc_Reflection_V1_ServerReflectionRequest) -> Grpc_Reflection_V1_ServerReflectionResponse {
    var reply = Grpc_Reflection_V1_ServerReflectionResponse()
    reply.validHost = request.host
    reply.originalRequest = request
    func notFound(_ what: String) {
      reply.errorResponse = .with {
        $0.errorCode = Int32(RPCError.Code.notFound.rawValue)
        $0.errorMessage = what
      }
    }
    switch request.messageRequest {
    case .listServices?:
      reply.listServicesResponse = .with { $0.service = serviceNames.map { name in .with { $0.name = name } } }
    case let .fileByFilename(name)?:
      if files[name] != nil { reply.fileDescriptorResponse = .with { $0.fileDescriptorProto = withDependencies(name) } } else {
        notFound("no file named \(name)")
      }
    case let .fileContainingSymbol(symbol)?:
      if let file = fileBySymbol[symbol] { reply.fileDescriptorResponse = .with { $0.fileDescriptorProto = withDependencies(file) } } else {
        notFound("no symbol named \(symbol)")
      }
    case let .fileContainingExtension(request)?:
      notFound("no extension \(request.extensionNumber) of \(request.containingType)")
    case let .allExtensionNumbersOfType(type)?:
      if fileBySymbol[type] != nil {
        reply.allExtensionNumbersResponse = .with { $0.baseTypeName = type }
      } else {
        notFound("no type named \(type)")
      }
    case nil:
      reply.errorResponse = .with {
        $0.errorCode = Int32(RPCError.Code.invalidArgument.rawValue)
        $0.errorMessage = "empty reflection request"
      }
    }
    return reply
  }

  /// The file and everything it imports, the file first, each once.
  private func withDependencies(_ name: String) -> [Data] {
    var seen: Set<String> = []
    var order: [String] = []
    func visit(_ file: String) {
      guard seen.insert(file).inserted, let descriptor = files[file] else { return }
      order.append(file)
      descriptor.dependency.forEach(visit)
    }
    visit(name)
    return order.compactMap { serializedFiles[$0] }
  }
}
