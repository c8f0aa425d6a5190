{
  "variables": {
    # The software CPU needs the system's Unicorn 2 (Debian: libunicorn-dev);
    # without it only bhyve_kvm is built.
    "has_unicorn%": "<!(test -f /usr/include/unicorn/unicorn.h && echo 1 || echo 0)"
  },
  "targets": [
    {
      "target_name": "bhyve_kvm",
      "sources": ["native/kvm_addon.cc", "native/vcpu_kick.cc", "native/ap_thread.cc", "native/peer_cred.cc", "native/host_fd.cc", "native/packet_reader.cc", "native/loop_watch.cc", "native/uffd_lazy_restore.cc", "native/uffd_write_tracker.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"]
    }
  ],
  "conditions": [
    ["has_unicorn==1", {
      "targets": [
        {
          "target_name": "bhyve_soft",
          "sources": ["native/soft/soft_addon.cc", "native/soft/soft_machine.cc", "native/soft/soft_env.cc", "native/soft/soft_x86.cc", "native/soft/soft_cpuid.cc", "native/soft/soft_state.cc", "native/soft/soft_interpose.cc", "native/soft/soft_loop_watch.cc"],
          "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
          "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
          "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
          "libraries": ["-lunicorn", "-ldl", "-lpthread"]
        }
      ]
    }]
  ]
}
