// The benchmark's floor: a long-running process that starts the worker with
// a plain fork+exec when asked, as a supervisor without a sandbox would.
// Reads commands from stdin, one byte each: 's' starts a worker (argv[1..]),
// 't' sends SIGTERM to the oldest running one, reaps it and answers 'd' on
// stdout.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <deque>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  std::deque<pid_t> running;
  char command;
  while (read(STDIN_FILENO, &command, 1) == 1) {
    if (command == 's') {
      pid_t pid = fork();
      if (pid == 0) {
        execv(argv[1], argv + 1);
        _exit(127);
      }
      if (pid > 0) running.push_back(pid);
    } else if (command == 't' && !running.empty()) {
      pid_t old = running.front();
      running.pop_front();
      kill(old, SIGTERM);
      waitpid(old, nullptr, 0);
      if (write(STDOUT_FILENO, "d", 1) != 1) return 1;
    }
  }
  for (pid_t pid : running) {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
  return 0;
}
