#include "miner/scan_record.h"

namespace tollgate::miner {

using json = nlohmann::ordered_json;

json assessment_json(const Assessment& a) {
  return json{{"suspect", a.suspect}, {"score", a.score}, {"reasons", a.reason_lines()}};
}

json scan_event_fields(const ScanRecord& r) {
  json hits = json::array();
  for (const auto& h : r.scan.hits)
    hits.push_back({{"signal", info(h.signal).id}, {"marker", h.marker}, {"offset", h.offset}});
  return json{{"sha256", r.sha256},
              {"path", r.path},
              {"size", r.size},
              {"scanned_bytes", r.scan.bytes_scanned},
              {"end", to_string(r.scan.end)},
              {"hits", hits},
              {"miner", assessment_json(assess(static_evidence(r.scan.hits), {.path = r.path}))}};
}

std::optional<ScanRecord> parse_scan_event(const nlohmann::json& e) {
  if (!e.is_object() || e.value("type", "") != "scan") return std::nullopt;
  auto str = [&](const char* key) {
    auto it = e.find(key);
    return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto num = [](const nlohmann::json& obj, const char* key) -> uint64_t {
    auto it = obj.find(key);
    return it != obj.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
  };
  ScanRecord r;
  r.sha256 = str("sha256");
  if (r.sha256.size() != 64 || r.sha256.find_first_not_of("0123456789abcdef") != std::string::npos) return std::nullopt;
  r.path = str("path");
  r.size = num(e, "size");
  r.scan.bytes_scanned = num(e, "scanned_bytes");
  r.scan.end = parse_scan_end(str("end")).value_or(ScanEnd::kComplete);
  if (auto hits = e.find("hits"); hits != e.end() && hits->is_array()) {
    for (const auto& h : *hits) {
      if (!h.is_object() || !h.contains("signal") || !h["signal"].is_string()) continue;
      auto signal = signal_from_id(h["signal"].get<std::string>());
      if (!signal || !info(*signal).evidence) continue;
      auto marker = h.find("marker");
      r.scan.hits.push_back(
          {*signal, marker != h.end() && marker->is_string() ? marker->get<std::string>() : "", num(h, "offset")});
    }
  }
  return r;
}

}  // namespace tollgate::miner
