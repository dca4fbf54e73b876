{
  "target_defaults": {
    "include_dirs": [
      "<!(node -p \"require('node-addon-api').include_dir\")",
      "native/kernels",
      "native/runtime"
    ],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
    "cflags!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
    "cflags_cc": ["-std=c++17", "-O3", "-fvisibility=hidden", "-fexceptions"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
      "OTHER_CPLUSPLUSFLAGS": ["-O3"]
    },
    "msvs_settings": {
      "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"] }
    }
  },
  "targets": [
    {
      "target_name": "convkit",
      "sources": [
        "<!@(node -p \"const s = require('./native/sources.json'); [...s.kernels, ...s.runtime, ...s.addon].join(' ')\")"
      ],
      "conditions": [
        ["target_arch=='x64'", { "dependencies": ["convkit_avx2", "convkit_avx512"] }],
        ["target_arch=='arm64'", { "dependencies": ["convkit_neon"] }]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        # Per-ISA micro-kernels get their own flags (never -march=native); gemm.cc picks one
        # at run time from cpuid + XGETBV.
        {
          "target_name": "convkit_avx2",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./native/sources.json').avx2.join(' ')\")"],
          "cflags": ["-fPIC", "-mavx2", "-mfma"],
          "xcode_settings": { "OTHER_CFLAGS": ["-mavx2", "-mfma"] },
          "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/arch:AVX2"] } }
        },
        {
          "target_name": "convkit_avx512",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./native/sources.json').avx512.join(' ')\")"],
          "cflags": ["-fPIC", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"],
          "xcode_settings": { "OTHER_CFLAGS": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"] },
          "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/arch:AVX512"] } }
        }
      ]
    }],
    ["target_arch=='arm64'", {
      "targets": [
        # NEON is part of the arm64 base architecture: no extra flags.
        {
          "target_name": "convkit_neon",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./native/sources.json').neon.join(' ')\")"],
          "cflags": ["-fPIC"]
        }
      ]
    }]
  ]
}
