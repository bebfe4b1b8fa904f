// WorkerThreads: a set of event-loop workers, one thread each, as the relay
// and the echo server run them.
//
//   WorkerThreads<RelayWorker> workers;
//   CMSGLIB_RETURN_IF_ERROR(workers.Add(std::make_unique<RelayWorker>(...)));
//   workers.Start();  ...  workers.Stop();   // Stop also runs on destruction
//
// W needs Init() -> absl::Status, Run(), Stop() (thread-safe, makes Run
// return) and failed(); FirstError() also needs error().
#ifndef LIB_UDP_WORKER_THREADS_H_
#define LIB_UDP_WORKER_THREADS_H_

#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace cmsg::udp {

template <typename W>
class WorkerThreads {
 public:
  WorkerThreads() = default;
  WorkerThreads(const WorkerThreads&) = delete;
  WorkerThreads& operator=(const WorkerThreads&) = delete;
  ~WorkerThreads() { Stop(); }

  // Initializes `worker` and keeps it if that succeeds.
  [[nodiscard]] absl::Status Add(std::unique_ptr<W> worker) {
    if (absl::Status s = worker->Init(); !s.ok()) return s;
    workers_.push_back(std::move(worker));
    return absl::OkStatus();
  }

  // Runs every worker on a thread of its own.
  void Start() {
    for (auto& w : workers_) {
      W* worker = w.get();
      threads_.emplace_back([worker] { worker->Run(); });
    }
  }

  // Asks every worker to stop and joins their threads.
  void Stop() {
    for (auto& w : workers_) w->Stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  // False once any worker has failed.
  [[nodiscard]] bool Healthy() const {
    for (const auto& w : workers_)
      if (w->failed()) return false;
    return true;
  }

  // The first worker's error, or OK.
  [[nodiscard]] absl::Status FirstError() const {
    for (const auto& w : workers_)
      if (!w->error().ok()) return w->error();
    return absl::OkStatus();
  }

  [[nodiscard]] const std::vector<std::unique_ptr<W>>& workers() const {
    return workers_;
  }
  [[nodiscard]] size_t size() const { return workers_.size(); }

 private:
  std::vector<std::unique_ptr<W>> workers_;
  std::vector<std::thread> threads_;
};

}  // namespace cmsg::udp

#endif  // LIB_UDP_WORKER_THREADS_H_
