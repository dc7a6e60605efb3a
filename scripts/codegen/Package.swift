// swift-tools-version: 6.1
import PackageDescription
let package = Package(
  name: "custos-codegen",
  platforms: [.macOS(.v15)],
  dependencies: [
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
  ],
  targets: [.target(name: "Dummy", path: "Dummy")]
)
