// SO_PEERCRED: who is at the other end of a connected Unix socket. Node has
// no API for it; the control socket uses it to refuse other users
// (src/control/PeerAuthorization.ts). Failures come back as -errno.
#include <napi.h>

#include <cerrno>
#include <sys/socket.h>
#include <sys/types.h>

namespace bhyve {

// peerCredentials(fd) -> { pid, uid, gid } or -errno. The kernel records
// these when the peer called connect(2); they do not follow later fd passing.
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Number::New(env, -EINVAL);
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred {};
  socklen_t length = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) < 0) return Napi::Number::New(env, -errno);
  if (length != sizeof cred) return Napi::Number::New(env, -EPROTO);
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

}  // namespace bhyve
