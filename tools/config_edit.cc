#include "tools/config_edit.h"

namespace tollgate::tools {

std::string set_config_mode(const std::string& text, std::string_view mode) {
  std::string out;
  bool replaced = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (!replaced && line.starts_with("mode:")) {
      // Keep a trailing comment: "mode: audit   # why".
      std::string comment;
      if (auto hash = line.find(" #"); hash != std::string::npos) {
        while (hash > 0 && (line[hash - 1] == ' ' || line[hash - 1] == '\t')) --hash;
        comment = line.substr(hash);
      }
      line = "mode: " + std::string(mode) + comment;
      replaced = true;
    }
    out += line;
    if (nl != std::string::npos) out += '\n';
  }
  if (!replaced) {
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += "mode: " + std::string(mode) + "\n";
  }
  return out;
}

}  // namespace tollgate::tools
