// tollgate hash FILE...: SHA-256 in sha256sum's output format.
#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/io.h"
#include "hashdb/sha256.h"
#include "tools/command.h"

namespace tollgate::tools {
namespace {

// sha256sum escapes names holding a backslash or newline and marks the line
// with a leading backslash; do the same so the outputs compare byte for byte.
std::string sha256sum_line(const std::string& hex, const std::string& name) {
  if (name.find_first_of("\\\n") == std::string::npos) return hex + "  " + name + "\n";
  std::string escaped;
  for (char c : name) {
    if (c == '\\') escaped += "\\\\";
    else if (c == '\n') escaped += "\\n";
    else escaped += c;
  }
  return "\\" + hex + "  " + escaped + "\n";
}

class HashCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("files", files_, "Files to hash ('-' for standard input)")->required();
    app.add_flag("--json", json_, "Print a JSON array of {path, sha256, size}");
  }

  int run() override {
    int status = kExitOk;
    nlohmann::json out = nlohmann::json::array();
    for (const auto& name : files_) {
      UniqueFd owned;
      int fd = STDIN_FILENO;
      if (name != "-") {
        auto opened = open_fd(name, O_RDONLY | O_NOCTTY);
        if (!opened) {
          status = report(opened.error());
          continue;
        }
        owned = std::move(*opened);
        fd = owned.get();
      }
      uint64_t size = 0;
      auto digest = hashdb::sha256_fd(fd, name, &size);
      if (!digest) {
        status = report(digest.error());
        continue;
      }
      std::string hex = hashdb::to_hex(*digest);
      if (json_) out.push_back({{"path", name}, {"sha256", hex}, {"size", size}});
      else fmt::print("{}", sha256sum_line(hex, name));
    }
    if (json_) fmt::print("{}\n", out.dump(2));
    return status;
  }

 private:
  std::vector<std::string> files_;
  bool json_ = false;
};

}  // namespace

CommandSpec hash_command() {
  return {.name = "hash",
          .summary = "Print SHA-256 digests, like sha256sum",
          .example = "  tollgate hash /usr/bin/ls /usr/sbin/sshd\n",
          .make = [] { return std::make_unique<HashCommand>(); }};
}

}  // namespace tollgate::tools
