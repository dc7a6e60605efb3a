// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
  name: "Custos",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "custosd", targets: ["custosd"]),
    .executable(name: "custos", targets: ["custos"]),
    .library(name: "CustosCrypto", targets: ["CustosCrypto"]),
    .library(name: "CustosJSON", targets: ["CustosJSON"]),
    .library(name: "CustosLedger", targets: ["CustosLedger"]),
    .library(name: "CustosPolicy", targets: ["CustosPolicy"]),
    .library(name: "CustosKeys", targets: ["CustosKeys"]),
    .library(name: "CustosTokens", targets: ["CustosTokens"]),
    .library(name: "CustosEvidence", targets: ["CustosEvidence"]),
    .library(name: "CustosStore", targets: ["CustosStore"]),
    .library(name: "CustosProtocol", targets: ["CustosProtocol"]),
    .library(name: "CustosServer", targets: ["CustosServer"]),
    .library(name: "CustosClient", targets: ["CustosClient"]),
    .library(name: "CustosBackup", targets: ["CustosBackup"]),
    .executable(name: "custos-fuzz", targets: ["custos-fuzz"]),
  ],
  dependencies: [
    .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    // YAML for policy authors' test files: a real YAML parser (libyaml) beats writing one.
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
  ],
  targets: [
    // System-library shims: the only place C headers enter the package.
    .systemLibrary(name: "CCustosOpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
    .systemLibrary(name: "CCustosArgon2", pkgConfig: "libargon2", providers: [.apt(["libargon2-dev"])]),
    // The C library calls Swift's Glibc module does not expose (malloc_trim), behind plain functions.
    .target(name: "CCustosSystem"),

    .target(
      name: "CustosCrypto",
      dependencies: ["CCustosOpenSSL", "CCustosArgon2"],
      swiftSettings: strict
    ),
    .target(
      name: "CustosJSON",
      swiftSettings: strict
    ),
    .target(
      name: "CustosLedger",
      dependencies: ["CustosCrypto", "CustosJSON"],
      swiftSettings: strict
    ),
    .target(
      name: "CustosPolicy",
      dependencies: ["CustosCrypto", "CustosJSON"],
      swiftSettings: strict
    ),
    .target(
      name: "CustosKeys",
      dependencies: ["CustosCrypto", "CustosJSON"],
      swiftSettings: strict
    ),
    .target(
      name: "CustosTokens",
      dependencies: ["CustosCrypto", "CustosJSON"],
      swiftSettings: strict
    ),
    .target(
      name: "CustosEvidence",
      dependencies: ["CustosCrypto", "CustosJSON", "CustosLedger"],
      swiftSettings: strict
    ),
    // Test doubles shared by the test targets (not a product).
    // Every parser and verifier that takes untrusted bytes, as libFuzzer targets (`make fuzz`); only
    // Custos's own modules, so the sanitized build stays small.
    .target(
      name: "CustosFuzzTargets",
      dependencies: ["CustosCrypto", "CustosJSON", "CustosLedger", "CustosPolicy", "CustosKeys", "CustosTokens", "CustosEvidence"],
      swiftSettings: strict
    ),
    .executableTarget(
      name: "custos-fuzz",
      dependencies: ["CustosFuzzTargets"],
      swiftSettings: strict
    ),
    .target(
      name: "CustosLedgerTestSupport",
      dependencies: ["CustosLedger", "CustosCrypto"],
      swiftSettings: strict
    ),
    .target(
      name: "CustosStore",
      dependencies: [
        "CustosLedger", "CustosKeys", "CustosTokens", "CustosCrypto", "CustosPolicy", "CustosBackup",
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "GRDBSQLite", package: "GRDB.swift"),
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strict
    ),
    .target(
      name: "CustosProtocol",
      dependencies: [
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: [.swiftLanguageMode(.v6)]
    ),
    .target(
      name: "CustosServer",
      dependencies: [
        "CCustosSystem",
        "CustosBackup",
        "CustosCrypto", "CustosJSON", "CustosKeys", "CustosLedger", "CustosPolicy", "CustosStore", "CustosTokens", "CustosEvidence",
        "CustosProtocol",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ],
      swiftSettings: strict
    ),
    .executableTarget(
      name: "custosd",
      dependencies: [
        "CustosServer",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strict
    ),
    // Backups: the signed, self-verifying file format, written from and restored into any store.
    .target(
      name: "CustosBackup",
      dependencies: ["CustosCrypto", "CustosLedger", "CustosKeys", "CustosTokens"],
      swiftSettings: strict
    ),
    // The client library services use (retries, token refresh, failover, receipts proven locally); the CLI too.
    .target(
      name: "CustosClient",
      dependencies: [
        "CustosProtocol", "CustosLedger", "CustosCrypto",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
      ],
      swiftSettings: strict
    ),
    .executableTarget(
      name: "custos",
      dependencies: [
        "CustosClient", "CustosBackup", "CustosServer", .product(name: "Logging", package: "swift-log"), "CustosCrypto", "CustosJSON", "CustosLedger", "CustosPolicy", "CustosEvidence", "CustosProtocol", "CustosStore",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Yams", package: "Yams"),
      ],
      swiftSettings: strict
    ),

    .testTarget(
      name: "CustosCryptoTests",
      dependencies: ["CustosCrypto"],
      resources: [.copy("Vectors")],
      swiftSettings: strict
    ),
    .testTarget(
      name: "CustosLedgerTests",
      dependencies: ["CustosLedger", "CustosCrypto", "CustosJSON", "CustosLedgerTestSupport"],
      resources: [.copy("Vectors")],
      swiftSettings: strict
    ),
    .testTarget(
      name: "CustosJSONTests",
      dependencies: ["CustosJSON"],
      swiftSettings: strict
    ),
    .testTarget(
      name: "CustosPolicyTests",
      dependencies: ["CustosPolicy", "CustosJSON"],
      resources: [.copy("Conformance")],
      swiftSettings: strict
    ),
    .testTarget(
      name: "CustosKeysTests",
      dependencies: ["CustosKeys", "CustosCrypto"],
      swiftSettings: strict
    ),
    .testTarget(
      name: "CustosTokensTests",
      dependencies: ["CustosTokens", "CustosCrypto", "CustosJSON"],
      swiftSettings: strict
    ),
    // The fuzz targets over their committed corpus and every crash fuzzing found (regressions).
    .testTarget(
      name: "CustosFuzzTargetsTests",
      dependencies: ["CustosFuzzTargets", "CustosEvidence", "CustosLedger", "CustosCrypto", "CustosLedgerTestSupport"],
      swiftSettings: strict
    ),
    .testTarget(
      name: "CustosEvidenceTests",
      dependencies: ["CustosEvidence", "CustosLedger", "CustosCrypto", "CustosJSON", "CustosLedgerTestSupport"],
      swiftSettings: strict
    ),
    // Stores under test (an empty SQLite file or PostgreSQL database per test) and the test PostgreSQL server.
    .target(
      name: "CustosStoreTestSupport",
      dependencies: ["CustosStore", "CustosKeys", .product(name: "GRDB", package: "GRDB.swift")],
      swiftSettings: strict
    ),
    .testTarget(
      name: "CustosStoreTests",
      dependencies: ["CustosStore", "CustosStoreTestSupport", "CustosLedger", "CustosKeys", "CustosTokens", "CustosCrypto", "CustosLedgerTestSupport"],
      swiftSettings: strict
    ),
    .testTarget(
      name: "CustosBackupTests",
      dependencies: ["CustosBackup", "CustosLedger", "CustosKeys", "CustosCrypto", "CustosLedgerTestSupport"],
      swiftSettings: strict
    ),
    .testTarget(
      name: "CustosClientTests",
      dependencies: ["CustosClient", .product(name: "GRPCCore", package: "grpc-swift-2")],
      swiftSettings: strict
    ),
    .testTarget(
      name: "CustosServerTests",
      dependencies: [
        "CustosServer", "CustosClient", "CustosProtocol", "CustosLedger", "CustosCrypto", "CustosKeys", "CustosStore", "CustosLedgerTestSupport",
        "CustosStoreTestSupport",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strict
    ),
  ]
)
