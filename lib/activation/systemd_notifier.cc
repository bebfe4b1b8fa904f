#include "lib/activation/systemd_notifier.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

namespace cmsg {

struct SystemdNotifier::State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> queue;
  bool closing = false;
  bool sending = false;  // the thread is in sd_notify
};

namespace {

constexpr size_t kMaxQueued = 16;

}  // namespace

SystemdNotifier::SystemdNotifier() {
  if (getenv("NOTIFY_SOCKET") == nullptr) return;
  state_ = std::make_shared<State>();
  std::thread([state = state_] {
    std::unique_lock<std::mutex> lock(state->mu);
    while (true) {
      state->cv.wait(lock, [&] { return state->closing || !state->queue.empty(); });
      if (state->queue.empty()) return;  // closing, nothing left
      std::string message = std::move(state->queue.front());
      state->queue.pop_front();
      state->sending = true;
      lock.unlock();
      (void)sd_notify(0, message.c_str());  // may block: nobody waits on us
      lock.lock();
      state->sending = false;
      state->cv.notify_all();
    }
  }).detach();
}

SystemdNotifier::~SystemdNotifier() {
  if (state_ == nullptr) return;
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->closing = true;
  state_->cv.notify_all();
  state_->cv.wait_for(lock, std::chrono::seconds(1),
                      [&] { return state_->queue.empty() && !state_->sending; });
}

void SystemdNotifier::Notify(std::string message) {
  if (state_ == nullptr) return;
  std::lock_guard<std::mutex> lock(state_->mu);
  auto& q = state_->queue;
  if (q.size() >= kMaxQueued || std::find(q.begin(), q.end(), message) != q.end()) return;
  q.push_back(std::move(message));
  state_->cv.notify_all();
}

}  // namespace cmsg
