#include "control/client.h"

#include <fmt/core.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "control/line_io.h"

namespace tollgate::control {

using nlohmann::json;

namespace {

Result<UniqueFd> connect_to(const std::string& socket_path) {
  auto addr = socket_address(socket_path);
  if (!addr) return std::unexpected(addr.error());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail_errno(errno, socket_path, "cannot create socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    int err = errno;
    if (err == EACCES || err == EPERM)
      return fail(ErrorCode::kPermission,
                  fmt::format("{}: permission denied (needs root or the admin group)", socket_path));
    return fail(ErrorCode::kUnavailable,
                fmt::format("{}: tollgated is not running ({})", socket_path, std::strerror(err)));
  }
  return fd;
}

}  // namespace

Error Refusal::to_error(std::string_view prefix) const {
  return Error(ErrorCode::kInvalidInput, std::string(prefix) + ": " + reason);
}

Result<json> control_request(const std::string& socket_path, const json& request, int timeout_ms) {
  auto fd = connect_to(socket_path);
  if (!fd) return std::unexpected(fd.error());
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  auto sent = write_line(fd->get(), request.dump(), deadline, socket_path);
  // Even when the write failed the server may have said why before closing.
  auto line = read_line(fd->get(), sent ? deadline : Clock::now() + std::chrono::milliseconds(200), socket_path);
  if (!line) return fail(ErrorCode::kUnavailable, (sent ? line.error() : sent.error()).message());
  json reply = json::parse(*line, nullptr, false);
  if (reply.is_discarded() || !reply.is_object())
    return fail(ErrorCode::kUnavailable, socket_path + ": the daemon's reply is not JSON");
  return reply;
}

Result<Answer<json>> Client::call(const ControlRequest& request) const {
  auto reply = control_request(socket_, to_json(request), timeout_ms_);
  if (!reply) return std::unexpected(reply.error());
  if (reply->value("ok", false) != true)
    return Answer<json>(std::unexpect, Refusal{reply->value("error", std::string("no reason given"))});
  return Answer<json>(std::move(*reply));
}

template <typename T>
Result<Answer<T>> Client::typed(const ControlRequest& request, Result<T> (*parse)(const json&)) const {
  auto answer = call(request);
  if (!answer) return std::unexpected(answer.error());
  if (!*answer) return Answer<T>(std::unexpect, std::move(answer->error()));
  auto reply = parse(**answer);
  if (!reply) return std::unexpected(reply.error().with_prefix(socket_));
  return Answer<T>(std::move(*reply));
}

Result<Answer<StatusReply>> Client::status() const { return typed(ControlRequest::status(), &status_from_json); }

Result<Answer<GenerationReply>> Client::reload() const {
  return typed(ControlRequest::reload(), &generation_from_json);
}

Result<Answer<ModeReply>> Client::set_mode(policy::Mode mode, const std::string& by, bool forced) const {
  return typed(ControlRequest::set_mode(mode, by, forced), &mode_from_json);
}

Result<Answer<GenerationReply>> Client::install(const std::string& candidate, const std::string& by) const {
  return typed(ControlRequest::install(candidate, by), &generation_from_json);
}

Result<Answer<GenerationReply>> Client::rollback(const std::string& file, const std::string& by) const {
  return typed(ControlRequest::rollback(file, by), &generation_from_json);
}

Result<Answer<ModeReply>> Client::timed_audit(std::chrono::seconds duration, const std::string& by) const {
  return typed(ControlRequest::timed_audit(duration, by), &mode_from_json);
}

Result<Answer<PendingReply>> Client::trust_pending(std::vector<policy::PendingFile> files,
                                                   const std::string& by) const {
  return typed(ControlRequest::trust_pending(std::move(files), by), &pending_from_json);
}

Result<Answer<PendingReply>> Client::end_pending(const std::string& by) const {
  return typed(ControlRequest::end_pending(by), &pending_from_json);
}

Status Client::reachable() const {
  auto fd = connect_to(socket_);
  if (!fd) return std::unexpected(fd.error());
  return {};
}

}  // namespace tollgate::control
