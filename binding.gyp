{
  "targets": [
    {
      "target_name": "bhyve_kvm",
      "sources": ["native/kvm_addon.cc", "native/vcpu_kick.cc", "native/ap_thread.cc", "native/peer_cred.cc", "native/host_fd.cc", "native/packet_reader.cc", "native/loop_watch.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"]
    }
  ]
}
