// Native sessions (a lazy restore, a write-tracking arm) handed to
// JavaScript as small integer ids. JavaScript threads call in (the machine
// thread, a test's), so the map is locked. Create registries with
// `*new SessionRegistry<S>`: never destroyed, so a thread still running at
// exit never meets a destroyed mutex.
#pragma once

#include <map>
#include <mutex>

namespace bhyve {

template <typename Session>
class SessionRegistry {
 public:
  int Add(Session* s) {
    std::lock_guard<std::mutex> lock(mutex_);
    int id = next_++;
    sessions_[id] = s;
    return id;
  }

  // The session, or nullptr; it stays registered.
  Session* Find(int id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second;
  }

  // Runs use(session or nullptr) with the registry locked, so no Take can free it meanwhile.
  template <typename Use>
  auto With(int id, Use use) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = sessions_.find(id);
    return use(it == sessions_.end() ? nullptr : it->second);
  }

  // The session, now unregistered and the caller's to free, or nullptr.
  Session* Take(int id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return nullptr;
    Session* s = it->second;
    sessions_.erase(it);
    return s;
  }

 private:
  std::mutex mutex_;
  std::map<int, Session*> sessions_;
  int next_ = 1;
};

}  // namespace bhyve
