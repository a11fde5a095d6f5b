#include "tools/match_command.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpcpp/grpcpp.h"
#include "proto/hashmatch/v1/match.grpc.pb.h"
#include "src/common/file_util.h"
#include "src/hashing/image_hasher.h"
#include "src/match/video_matcher.h"
#include "src/video/video_hasher.h"
#include "tools/client_flags.h"
#include "tools/commands.h"
#include "tools/flags.h"
#include "tools/output.h"

namespace hashmatch {
namespace cli {
namespace {

namespace v1 = ::hashmatch::v1;

// Files larger than this are not read (the server's default request limit).
constexpr int64_t kDefaultMaxFileBytes = int64_t{64} << 20;
constexpr int64_t kMaxFileBytes = int64_t{1} << 32;

struct MatchFlags {
  ClientFlags client;
  bool hashes = false;
  bool json = false;
  bool video = false;
  size_t max_file_bytes = kDefaultMaxFileBytes;
};

int MatchUsageError(std::ostream& err, absl::string_view message) {
  err << "hashmatch: match: " << message << "\n";
  PrintUsage(err);
  return kExitUsage;
}

absl::StatusOr<MatchFlags> MatchFlagsFrom(const ParsedFlags& flags) {
  MatchFlags m;
  absl::StatusOr<ClientFlags> client = ClientFlagsFrom(flags);
  if (!client.ok()) return client.status();
  m.client = *std::move(client);
  m.hashes = flags.Has("hashes");
  m.json = flags.Has("json");
  m.video = flags.Has("video");
  absl::StatusOr<int64_t> max_bytes =
      flags.GetInt("max_file_bytes", 1, kMaxFileBytes, kDefaultMaxFileBytes);
  if (!max_bytes.ok()) return max_bytes.status();
  m.max_file_bytes = static_cast<size_t>(*max_bytes);
  if (flags.positional().empty()) {
    return absl::InvalidArgumentError("no files given");
  }
  return m;
}

// "VERDICT_MATCH" -> "MATCH", "DECISION_RULE_PDQ_THRESHOLD" ->
// "pdq_threshold" (lower), ...
std::string EnumSuffix(const std::string& name, absl::string_view prefix,
                       bool lower) {
  std::string s = name;
  if (absl::StartsWith(s, prefix)) s = s.substr(prefix.size());
  if (s.empty()) return "?";
  return lower ? absl::AsciiStrToLower(s) : s;
}

std::string FormatTextLine(absl::string_view path, const v1::MatchResponse& r) {
  std::string best = "-";
  if (!r.matches().empty()) {
    const v1::EntryMatch& m = r.matches(0);
    best = absl::StrCat(
        "entry=", m.entry_id(), " signal=",
        EnumSuffix(v1::SignalType_Name(m.signal_type()), "SIGNAL_TYPE_", true),
        " distance=", m.distance());
    if (m.dihedral() != v1::DIHEDRAL_VARIANT_UNSPECIFIED) {
      absl::StrAppend(&best, " variant=",
                      EnumSuffix(v1::DihedralVariant_Name(m.dihedral()),
                                 "DIHEDRAL_VARIANT_", true));
    }
  }
  return absl::StrCat(
      path, "\t", EnumSuffix(v1::Verdict_Name(r.verdict()), "VERDICT_", false),
      "\t", EnumSuffix(v1::DecisionRule_Name(r.rule()), "DECISION_RULE_", true),
      "\t", best, "\tindex_sequence=", r.index_sequence(), "\n");
}

// {"path":PATH,"response":{...}} and a newline: the --json line of a file.
std::string FormatJsonResponse(absl::string_view path,
                               const google::protobuf::Message& response) {
  return absl::StrCat("{\"path\":", JsonString(path),
                      ",\"response\":", ProtoJson(response), "}\n");
}

std::string FormatJsonError(absl::string_view path, absl::string_view code,
                            absl::string_view message) {
  return absl::StrCat("{\"path\":", JsonString(path),
                      ",\"error\":{\"code\":", JsonString(code),
                      ",\"message\":", JsonString(message), "}}\n");
}

std::string FormatVideoLine(absl::string_view path,
                            const v1::MatchVideoResponse& r) {
  std::string best = "-";
  if (!r.matches().empty()) {
    const v1::VideoEntryMatch& m = r.matches(0);
    best = absl::StrCat(
        "entry=", m.entry_id(), " signal=",
        EnumSuffix(v1::SignalType_Name(m.signal_type()), "SIGNAL_TYPE_", true),
        " distance=", m.distance());
    if (m.signal_type() == v1::SIGNAL_TYPE_VPDQ) {
      absl::StrAppend(&best, absl::StrFormat(" query=%.1f%% compared=%.1f%%",
                                             m.query_match_percent(),
                                             m.compared_match_percent()));
    }
  }
  return absl::StrCat(
      path, "\t", EnumSuffix(v1::Verdict_Name(r.verdict()), "VERDICT_", false),
      "\t", EnumSuffix(v1::DecisionRule_Name(r.rule()), "DECISION_RULE_", true),
      "\t", best, "\tframes=", r.query_frames(),
      "\tindex_sequence=", r.index_sequence(), "\n");
}

// MatchVideo: the header, then the bytes in 1 MiB chunks (or, with
// `frames`, the header alone carrying them).
grpc::Status CallMatchVideo(v1::MatchService::Stub& stub,
                            grpc::ClientContext* context,
                            const v1::MatchVideoHeader& header,
                            absl::string_view bytes,
                            v1::MatchVideoResponse* response) {
  constexpr size_t kChunk = size_t{1} << 20;
  std::unique_ptr<grpc::ClientWriter<v1::MatchVideoRequest>> writer =
      stub.MatchVideo(context, response);
  v1::MatchVideoRequest request;
  *request.mutable_header() = header;
  bool ok = writer->Write(request);
  for (size_t at = 0; ok && at < bytes.size(); at += kChunk) {
    request.set_chunk(std::string(bytes.substr(at, kChunk)));
    ok = writer->Write(request);
  }
  writer->WritesDone();
  return writer->Finish();
}

// Builds a MatchHashes request from the file's local PDQ, MD5 and SHA-256.
absl::StatusOr<v1::MatchHashesRequest> LocalHashesRequest(
    ImageHasher& hasher, absl::string_view bytes, size_t max_bytes) {
  static constexpr Algorithm kAlgos[] = {Algorithm::kPdq, Algorithm::kMd5,
                                         Algorithm::kSha256};
  HashOptions options;
  options.decode.max_encoded_bytes = max_bytes;
  absl::StatusOr<ImageHashes> hashes = hasher.HashBytes(bytes, kAlgos, options);
  if (!hashes.ok()) return hashes.status();
  v1::MatchHashesRequest request;
  for (const HashResult& h : hashes->results) {
    v1::QueryHash* q = request.add_hashes();
    switch (h.algorithm) {
      case Algorithm::kPdq:
        q->set_signal_type(v1::SIGNAL_TYPE_PDQ);
        break;
      case Algorithm::kMd5:
        q->set_signal_type(v1::SIGNAL_TYPE_MD5);
        break;
      default:
        q->set_signal_type(v1::SIGNAL_TYPE_SHA256);
        break;
    }
    q->set_hex(h.hex);
    if (h.quality.has_value()) q->set_quality(*h.quality);
  }
  return request;
}

}  // namespace

int RunMatch(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err) {
  FlagParser parser;
  parser.AddBool("help");
  parser.AddBool("hashes");
  parser.AddBool("json");
  parser.AddBool("video");
  AddClientFlags(parser);
  parser.AddValue("max_file_bytes");
  absl::StatusOr<ParsedFlags> flags = parser.Parse(args);
  if (!flags.ok()) return MatchUsageError(err, flags.status().message());
  if (flags->Has("help")) {
    PrintUsage(out);
    return kExitOk;
  }
  absl::StatusOr<MatchFlags> m = MatchFlagsFrom(*flags);
  if (!m.ok()) return MatchUsageError(err, m.status().message());
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      NewClientChannel(m->client);
  if (!channel.ok()) {
    err << "hashmatch: match: TLS files: " << channel.status() << "\n";
    return kExitUsage;
  }
  std::unique_ptr<v1::MatchService::Stub> stub =
      v1::MatchService::NewStub(*channel);
  ImageHasher hasher;

  bool any_error = false;
  bool any_match = false;
  for (const std::string& path : flags->positional()) {
    auto fail = [&](absl::string_view code, absl::string_view message) {
      any_error = true;
      out.flush();
      err << "hashmatch: match: " << path << ": " << code << ": " << message
          << "\n";
      if (m->json) out << FormatJsonError(path, code, message);
    };
    absl::StatusOr<std::string> bytes =
        ReadFileToString(path, m->max_file_bytes);
    if (!bytes.ok()) {
      fail(absl::StatusCodeToString(bytes.status().code()),
           bytes.status().message());
      continue;
    }
    grpc::ClientContext context;
    PrepareContext(m->client, /*deadline=*/true, &context);
    if (m->video) {
      v1::MatchVideoHeader header;
      header.set_total_bytes(static_cast<int64_t>(bytes->size()));
      if (m->hashes) {
        // Hashed here; only the frame hashes are sent.
        VideoHashOptions options = QueryVideoHashOptions();
        options.decode.max_bytes = m->max_file_bytes;
        absl::StatusOr<VideoHashResult> hashed = HashVideo(*bytes, options);
        bytes->clear();
        if (!hashed.ok()) {
          fail(absl::StatusCodeToString(hashed.status().code()),
               absl::StrCat("hashing locally: ", hashed.status().message()));
          continue;
        }
        header.set_total_bytes(0);
        for (const VideoFrameHash& f : hashed->frames) {
          *header.add_frames() = ToProto(f);
        }
      }
      v1::MatchVideoResponse response;
      grpc::Status status =
          CallMatchVideo(*stub, &context, header, *bytes, &response);
      if (!status.ok()) {
        fail(GrpcCodeName(status.error_code()), status.error_message());
        continue;
      }
      if (response.verdict() == v1::VERDICT_MATCH) any_match = true;
      // `hashmatch hash --video` prints the frame hashes; not repeated here.
      response.clear_query_frame_hashes();
      out << (m->json ? FormatJsonResponse(path, response)
                      : FormatVideoLine(path, response));
      continue;
    }
    v1::MatchResponse response;
    grpc::Status status;
    if (m->hashes) {
      absl::StatusOr<v1::MatchHashesRequest> request =
          LocalHashesRequest(hasher, *bytes, m->max_file_bytes);
      bytes->clear();
      if (!request.ok()) {
        fail(absl::StatusCodeToString(request.status().code()),
             absl::StrCat("hashing locally: ", request.status().message()));
        continue;
      }
      status = stub->MatchHashes(&context, *request, &response);
    } else {
      v1::MatchImageRequest request;
      request.set_image(*std::move(bytes));
      status = stub->MatchImage(&context, request, &response);
    }
    if (!status.ok()) {
      fail(GrpcCodeName(status.error_code()), status.error_message());
      continue;
    }
    if (response.verdict() == v1::VERDICT_MATCH) any_match = true;
    out << (m->json ? FormatJsonResponse(path, response)
                    : FormatTextLine(path, response));
  }
  out.flush();
  if (any_match) return kExitMatch;
  return any_error ? kExitFailure : kExitOk;
}

}  // namespace cli
}  // namespace hashmatch
