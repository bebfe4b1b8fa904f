// Minimal --key=value parsing for the benchmark helpers (they are not
// tools, so they do without gflags). Unknown keys are an error.
#ifndef TESTS_BENCH_UDP_BENCH_ARGS_H_
#define TESTS_BENCH_UDP_BENCH_ARGS_H_

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

namespace cmsg::bench {

class Args {
 public:
  // Exits 2 with one line on anything not "--key=value" with a known key.
  Args(int argc, char** argv, std::set<std::string> known) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      size_t eq = a.find('=');
      if (a.rfind("--", 0) != 0 || eq == std::string::npos ||
          !known.count(a.substr(2, eq - 2))) {
        fprintf(stderr, "%s: bad argument '%s'\n", argv[0], a.c_str());
        exit(2);
      }
      values_[a.substr(2, eq - 2)] = a.substr(eq + 1);
    }
  }
  std::string Get(const std::string& key, const std::string& def) const {
    auto it = values_.find(key);
    return it == values_.end() ? def : it->second;
  }
  long Int(const std::string& key, long def) const {
    auto it = values_.find(key);
    return it == values_.end() ? def : strtol(it->second.c_str(), nullptr, 10);
  }
  double Double(const std::string& key, double def) const {
    auto it = values_.find(key);
    return it == values_.end() ? def : strtod(it->second.c_str(), nullptr);
  }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace cmsg::bench

#endif  // TESTS_BENCH_UDP_BENCH_ARGS_H_
