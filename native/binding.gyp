{
  "targets": [
    {
      "target_name": "braid",
      "sources": [
        "<!@(ls addon/*.cc)",
        "<!@(ls engine/src/*.c)"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "engine/include",
        "engine/src"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags": [
        "<!@(pkg-config --cflags libdpdk)",
        "-Wall", "-Wextra", "-Werror", "-O2", "-g"
      ],
      "cflags_c": ["-std=c11", "-Wshadow", "-Wstrict-prototypes", "-Wmissing-prototypes", "-Wvla"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wno-missing-field-initializers"],
      "libraries": ["<!@(pkg-config --libs libdpdk)", "-lcrypto", "-lm"]
    },
    {
      "target_name": "braid-tcpbulk",
      "type": "executable",
      "sources": ["tools/tcpbulk.c"],
      "include_dirs": ["engine/include"],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2", "-g"],
      "cflags_c": ["-std=c11", "-Wshadow", "-Wstrict-prototypes", "-Wmissing-prototypes", "-Wvla"],
      "libraries": ["-lcrypto"]
    }
  ]
}
