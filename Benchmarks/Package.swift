// swift-tools-version: 6.1
import PackageDescription

// Benchmarks live in their own package so the product build never pulls in the benchmark tooling.
let package = Package(
  name: "CustosBenchmarks",
  platforms: [.macOS(.v15)],
  dependencies: [
    .package(name: "Custos", path: "../"),
    .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
  ],
  targets: [
    .executableTarget(
      name: "LedgerBenchmarks",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "CustosLedger", package: "Custos"),
        .product(name: "CustosStore", package: "Custos"),
        .product(name: "CustosCrypto", package: "Custos"),
        .product(name: "CustosEvidence", package: "Custos"),
        .product(name: "GRDB", package: "GRDB.swift"),
      ],
      path: "Benchmarks/LedgerBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
    // Key manager against OpenSSL AES-256-GCM called from C; Argon2id unseal time.
    .target(
      name: "CRawOpenSSL",
      path: "Sources/CRawOpenSSL",
      linkerSettings: [.linkedLibrary("crypto")]
    ),
    .executableTarget(
      name: "KeyBenchmarks",
      dependencies: [
        "CRawOpenSSL",
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "CustosKeys", package: "Custos"),
        .product(name: "CustosStore", package: "Custos"),
        .product(name: "CustosCrypto", package: "Custos"),
      ],
      path: "Benchmarks/KeyBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
    // Token issuance against OpenSSL's Ed25519 called from C; verification; client-secret hashing.
    .executableTarget(
      name: "TokenBenchmarks",
      dependencies: [
        "CRawOpenSSL",
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "CustosTokens", package: "Custos"),
        .product(name: "CustosStore", package: "Custos"),
        .product(name: "CustosCrypto", package: "Custos"),
      ],
      path: "Benchmarks/TokenBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
    // In-process policy decisions on a generated RBAC workload (compare with rbac_workload.py cedarpy).
    .executableTarget(
      name: "PolicyLoad",
      dependencies: [.product(name: "CustosPolicy", package: "Custos")],
      path: "Sources/PolicyLoad"
    ),
    // Best-of-five timing shared by the load tools below.
    .target(name: "LoadTiming", path: "Sources/LoadTiming"),
    // Offline evidence verification against raw SHA-256, outside the benchmark harness.
    .executableTarget(
      name: "EvidenceLoad",
      dependencies: [
        "LoadTiming",
        .product(name: "CustosEvidence", package: "Custos"),
        .product(name: "CustosLedger", package: "Custos"),
        .product(name: "CustosCrypto", package: "Custos"),
      ],
      path: "Sources/EvidenceLoad"
    ),
    // Proof latency at random indexes of the ledger fixtures, outside the benchmark harness.
    .executableTarget(
      name: "ProofLoad",
      dependencies: [
        "LoadTiming",
        .product(name: "CustosLedger", package: "Custos"),
        .product(name: "CustosStore", package: "Custos"),
        .product(name: "CustosCrypto", package: "Custos"),
      ],
      path: "Sources/ProofLoad"
    ),
    // Full ledger verification and its parts against raw SHA-256, outside the benchmark harness.
    .executableTarget(
      name: "VerifyLoad",
      dependencies: [
        "LoadTiming",
        .product(name: "CustosLedger", package: "Custos"),
        .product(name: "CustosStore", package: "Custos"),
        .product(name: "CustosCrypto", package: "Custos"),
      ],
      path: "Sources/VerifyLoad"
    ),
    .executableTarget(
      name: "WitnessLoad",
      dependencies: [
        "LoadSupport",
        .product(name: "CustosServer", package: "Custos"),
        .product(name: "CustosProtocol", package: "Custos"),
        .product(name: "CustosLedger", package: "Custos"),
        .product(name: "CustosCrypto", package: "Custos"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Sources/WitnessLoad"
    ),
    .executableTarget(
      name: "BackupLoad",
      dependencies: [
        .product(name: "CustosBackup", package: "Custos"),
        .product(name: "CustosJSON", package: "Custos"),
        .product(name: "CustosLedger", package: "Custos"),
        .product(name: "CustosStore", package: "Custos"),
        .product(name: "CustosCrypto", package: "Custos"),
      ],
      path: "Sources/BackupLoad"
    ),
    // An in-process custosd and a concurrent call-rate loop, shared by the loopback load tools.
    .target(
      name: "LoadSupport",
      dependencies: [
        .product(name: "CustosServer", package: "Custos"),
        .product(name: "CustosCrypto", package: "Custos"),
        .product(name: "CustosProtocol", package: "Custos"),
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Sources/LoadSupport"
    ),
    // Loopback RPC load: Custos's Append against a trivial handler (health Check) on the same server.
    .executableTarget(
      name: "RPCLoad",
      dependencies: [
        "LoadSupport",
        .product(name: "CustosServer", package: "Custos"),
        .product(name: "CustosProtocol", package: "Custos"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Sources/RPCLoad"
    ),
    // Check latency for one caller before and during a flood of bad client secrets.
    .executableTarget(
      name: "SecretFloodLoad",
      dependencies: [
        "LoadSupport",
        .product(name: "CustosServer", package: "Custos"),
        .product(name: "CustosProtocol", package: "Custos"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
      ],
      path: "Sources/SecretFloodLoad"
    ),
    // Ten minutes of mixed load at half capacity: errors, RSS growth, latency drift.
    .executableTarget(
      name: "SoakLoad",
      dependencies: [
        "LoadSupport",
        .product(name: "CustosServer", package: "Custos"),
        .product(name: "CustosStore", package: "Custos"),
        .product(name: "CustosProtocol", package: "Custos"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
      ],
      path: "Sources/SoakLoad"
    ),
    // Several nodes on PostgreSQL: appends against raw inserts, the tip lock's hold time, Check on each store.
    .executableTarget(
      name: "ClusterLoad",
      dependencies: [
        "LoadSupport",
        .product(name: "CustosServer", package: "Custos"),
        .product(name: "CustosStore", package: "Custos"),
        .product(name: "CustosLedger", package: "Custos"),
        .product(name: "CustosCrypto", package: "Custos"),
        .product(name: "CustosProtocol", package: "Custos"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      path: "Sources/ClusterLoad"
    ),
  ]
)
