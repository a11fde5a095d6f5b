#include "tools/import_export.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/common/file_util.h"
#include "src/hashlist/hash_list_format.h"
#include "src/match/video_matcher.h"
#include "src/video/video_hasher.h"
#include "src/video/vpdq_format.h"
#include "tools/client_flags.h"
#include "tools/commands.h"
#include "tools/db_commands.h"
#include "tools/flags.h"

namespace hashmatch {
namespace cli {
namespace {

namespace v1 = ::hashmatch::v1;

constexpr int64_t kDefaultMaxFileBytes = int64_t{1} << 30;
constexpr int64_t kMaxMaxFileBytes = int64_t{1} << 40;
constexpr int64_t kDefaultBatchSize = 500;
constexpr int64_t kMaxBatchSize = 10000;
constexpr int64_t kDefaultMaxRows = 10'000'000;
constexpr int64_t kDefaultMaxErrors = 100;

int UsageError(std::ostream& err, absl::string_view command,
               absl::string_view message) {
  err << "hashmatch: " << command << ": " << message << "\n";
  PrintUsage(err);
  return kExitUsage;
}

absl::StatusOr<HashListFormat> FormatFlag(const ParsedFlags& flags) {
  std::optional<std::string> name = flags.Get("format");
  if (!name.has_value()) {
    return absl::InvalidArgumentError(
        "--format is required (csv, jsonl or hashmatch)");
  }
  return ParseHashListFormat(*name);
}

void PrintLineError(std::ostream& err, absl::string_view path,
                    const LineError& e) {
  err << "hashmatch: import: " << path;
  if (e.line > 0) err << ":" << e.line;
  err << ": " << e.message << "\n";
}

struct ImportPlan {
  // The entries to submit, in file order (from a lossless file: without
  // tombstones, external ids derived, has_quality = quality != 0).
  std::vector<ParsedEntry> entries;
  int64_t skipped_retracted = 0;
  std::vector<LineError> errors;
  int64_t total_errors = 0;
};

// What to submit from a parsed file. From a lossless file, tombstones are
// skipped, missing external ids derived, and external ids that collide once
// every entry belongs to the caller's agency are errors.
ImportPlan PlanImport(ParseResult parsed, HashListFormat format,
                      size_t max_errors) {
  ImportPlan plan;
  plan.entries = std::move(parsed.entries);
  if (format != HashListFormat::kHashmatch) return plan;
  absl::flat_hash_map<std::string, int64_t> first_line;
  size_t kept = 0;
  for (size_t i = 0; i < plan.entries.size(); ++i) {
    ParsedEntry& p = plan.entries[i];
    v1::Entry& e = p.entry;
    if (e.state() == v1::VETTING_STATE_RETRACTED) {
      ++plan.skipped_retracted;
      continue;
    }
    if (e.external_id().empty()) {
      e.set_external_id(DerivedExternalId(e.signal_type(), e.hash()));
    }
    p.has_quality = e.quality() != 0;
    auto [it, inserted] = first_line.emplace(e.external_id(), p.line);
    if (!inserted) {
      ++plan.total_errors;
      if (plan.errors.size() < max_errors) {
        plan.errors.push_back(LineError{
            p.line, absl::StrCat("external_id \"", e.external_id(),
                                 "\" is also on line ", it->second,
                                 " (another source_agency): one importing "
                                 "agency cannot submit both")});
      }
      continue;
    }
    if (kept != i) plan.entries[kept] = std::move(p);
    ++kept;
  }
  plan.entries.resize(kept);
  return plan;
}

// Moves the submitted fields out of `p`.
v1::Submission ToSubmission(ParsedEntry& p) {
  v1::Entry& e = p.entry;
  v1::Submission s;
  s.set_external_id(std::move(*e.mutable_external_id()));
  v1::SubmittedHash* h = s.mutable_hash();
  h->set_signal_type(e.signal_type());
  h->set_raw(std::move(*e.mutable_hash()));
  if (p.has_quality) h->set_quality(e.quality());
  s.set_classification(std::move(*e.mutable_classification()));
  s.set_note(std::move(*e.mutable_note()));
  return s;
}

// The IngestService stub for `client`; nullptr (and the reason on `err`) when
// its TLS files cannot be read.
std::unique_ptr<v1::IngestService::Stub> ImportStub(const ClientFlags& client,
                                                    std::ostream& err) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      NewClientChannel(client);
  if (!channel.ok()) {
    err << "hashmatch: import: TLS files: " << channel.status() << "\n";
    return nullptr;
  }
  return v1::IngestService::NewStub(*channel);
}

// `import --format vpdq FILE`: one video entry from a vPDQ hash file (the
// lines of `hashmatch hash --video` or ThreatExchange's vpdq tools).
// `import --format video FILE`: one video entry from the video itself,
// hashed here (EntryVideoHashOptions: a frame every 0.5 s, centre windows)
// so that only hashes leave the machine.
int ImportVideoEntry(const ParsedFlags& flags, bool from_video,
                     std::ostream& out, std::ostream& err) {
  if (flags.positional().size() != 1) {
    return UsageError(err, "import", "give exactly one FILE");
  }
  const std::string& path = flags.positional()[0];
  const bool dry_run = flags.Has("dry_run");
  std::optional<ClientFlags> client;
  if (!dry_run || flags.Has("server")) {
    absl::StatusOr<ClientFlags> c = ClientFlagsFrom(flags);
    if (!c.ok()) return UsageError(err, "import", c.status().message());
    client = *std::move(c);
  }
  absl::StatusOr<int64_t> max_bytes =
      flags.GetInt("max_file_bytes", 1, kMaxMaxFileBytes, kDefaultMaxFileBytes);
  absl::StatusOr<int64_t> max_rows = flags.GetInt(
      "max_rows", 1, kMaxVideoFramesPerEntry, kMaxVideoFramesPerEntry);
  for (const auto* v : {&max_bytes, &max_rows}) {
    if (!v->ok()) return UsageError(err, "import", v->status().message());
  }
  std::string external_id = flags.Get("external_id").value_or("");
  if (external_id.empty()) {
    external_id = std::filesystem::path(path).stem().string();
  }
  absl::StatusOr<std::string> data =
      ReadFileToString(path, static_cast<size_t>(*max_bytes));
  if (!data.ok()) {
    err << "hashmatch: import: " << path << ": " << data.status()
        << "; nothing was submitted\n";
    return kExitFailure;
  }
  absl::StatusOr<std::vector<VideoFrameHash>> frames;
  if (from_video) {
    VideoHashOptions options = EntryVideoHashOptions();
    options.decode.max_bytes = static_cast<size_t>(*max_bytes);
    absl::StatusOr<VideoHashResult> hashed = HashVideo(*data, options);
    if (!hashed.ok()) {
      frames = hashed.status();
    } else if (hashed->frames.empty()) {
      frames = absl::InvalidArgumentError(
          "no frame of the video reaches PDQ quality " +
          std::to_string(options.min_quality));
    } else if (hashed->frames.size() > static_cast<size_t>(*max_rows)) {
      frames = absl::ResourceExhaustedError(absl::StrCat(
          hashed->frames.size(), " frames kept, over --max_rows ", *max_rows));
    } else {
      frames = std::move(hashed->frames);
    }
  } else {
    VpdqParseOptions options;
    options.max_frames = *max_rows;
    frames = ParseVpdq(*data, options);
  }
  if (!frames.ok()) {
    err << "hashmatch: import: " << path << ": " << frames.status().message()
        << "; nothing was submitted\n";
    return kExitFailure;
  }
  v1::SubmitRequest request;
  v1::Submission* sub = request.add_submissions();
  sub->set_external_id(external_id);
  sub->set_classification(flags.Get("classification").value_or(""));
  sub->set_note(flags.Get("note").value_or(""));
  for (const VideoFrameHash& f : *frames) {
    *sub->mutable_video_hashes()->add_frames() = ToProto(f);
  }
  if (dry_run) {
    out << path << ": 1 video entry of " << frames->size()
        << " frames valid; nothing submitted (--dry_run)\n";
    return kExitOk;
  }
  std::unique_ptr<v1::IngestService::Stub> stub = ImportStub(*client, err);
  if (stub == nullptr) return kExitUsage;
  grpc::ClientContext context;
  PrepareContext(*client, /*deadline=*/true, &context);
  v1::SubmitResponse response;
  const grpc::Status status = stub->Submit(&context, request, &response);
  if (!status.ok() || response.entries_size() != 1) {
    err << "hashmatch: import: " << path << ": Submit failed: "
        << (status.ok() ? std::string("INTERNAL: no entry in the response")
                        : GrpcCodeName(status.error_code()) + ": " +
                              status.error_message())
        << "\n";
    return kExitFailure;
  }
  out << path << ": video entry " << response.entries(0).id() << " ("
      << external_id << ", " << frames->size() << " frames, "
      << StateShortName(response.entries(0).state()) << "; store sequence "
      << response.sequence() << ")\n";
  return kExitOk;
}

}  // namespace

int RunImport(const std::vector<std::string>& args, std::ostream& out,
              std::ostream& err) {
  FlagParser parser;
  parser.AddBool("help");
  parser.AddBool("dry_run");
  AddClientFlags(parser);
  parser.AddValue("format");
  parser.AddValue("batch_size");
  parser.AddValue("max_file_bytes");
  parser.AddValue("max_rows");
  parser.AddValue("max_errors");
  parser.AddValue("external_id");
  parser.AddValue("classification");
  parser.AddValue("note");
  absl::StatusOr<ParsedFlags> flags = parser.Parse(args);
  if (!flags.ok()) return UsageError(err, "import", flags.status().message());
  if (flags->Has("help")) {
    PrintUsage(out);
    return kExitOk;
  }
  if (flags->Get("format") == "vpdq" || flags->Get("format") == "video") {
    return ImportVideoEntry(*flags, flags->Get("format") == "video", out, err);
  }
  for (const char* video_only : {"external_id", "classification", "note"}) {
    if (flags->Get(video_only).has_value()) {
      return UsageError(err, "import",
                        absl::StrCat("--", video_only,
                                     " is for --format vpdq or video (the "
                                     "other formats carry it per row)"));
    }
  }
  absl::StatusOr<HashListFormat> format = FormatFlag(*flags);
  if (!format.ok()) return UsageError(err, "import", format.status().message());
  const bool dry_run = flags->Has("dry_run");
  std::optional<ClientFlags> client;
  if (!dry_run || flags->Has("server")) {
    absl::StatusOr<ClientFlags> c = ClientFlagsFrom(*flags);
    if (!c.ok()) return UsageError(err, "import", c.status().message());
    client = *std::move(c);
  }
  absl::StatusOr<int64_t> batch_size =
      flags->GetInt("batch_size", 1, kMaxBatchSize, kDefaultBatchSize);
  absl::StatusOr<int64_t> max_bytes = flags->GetInt(
      "max_file_bytes", 1, kMaxMaxFileBytes, kDefaultMaxFileBytes);
  absl::StatusOr<int64_t> max_rows =
      flags->GetInt("max_rows", 1, kMaxMaxFileBytes, kDefaultMaxRows);
  absl::StatusOr<int64_t> max_errors =
      flags->GetInt("max_errors", 1, 1'000'000, kDefaultMaxErrors);
  for (const auto* v : {&batch_size, &max_bytes, &max_rows, &max_errors}) {
    if (!v->ok()) return UsageError(err, "import", v->status().message());
  }
  if (flags->positional().size() != 1) {
    return UsageError(err, "import", "give exactly one FILE");
  }
  const std::string& path = flags->positional()[0];

  absl::StatusOr<std::string> data =
      ReadFileToString(path, static_cast<size_t>(*max_bytes));
  if (!data.ok()) {
    err << "hashmatch: import: " << path << ": " << data.status()
        << (data.status().code() == absl::StatusCode::kResourceExhausted
                ? " (--max_file_bytes)"
                : "")
        << "; nothing was submitted\n";
    return kExitFailure;
  }
  ParseOptions options;
  options.max_rows = *max_rows;
  options.max_errors = static_cast<size_t>(*max_errors);
  ParseResult parsed = ParseHashList(*data, *format, options);
  data->clear();
  data->shrink_to_fit();
  const int64_t rows = parsed.rows;
  if (parsed.total_errors > 0) {
    for (const LineError& e : parsed.errors) PrintLineError(err, path, e);
    err << "hashmatch: import: " << path << ": " << parsed.total_errors
        << " error(s)";
    if (static_cast<size_t>(parsed.total_errors) > parsed.errors.size()) {
      err << " (the first " << parsed.errors.size() << " shown, --max_errors)";
    }
    err << " in " << rows << " rows; nothing was submitted\n";
    return kExitFailure;
  }
  ImportPlan plan = PlanImport(std::move(parsed), *format, options.max_errors);
  if (plan.total_errors > 0) {
    for (const LineError& e : plan.errors) PrintLineError(err, path, e);
    err << "hashmatch: import: " << path << ": " << plan.total_errors
        << " error(s); nothing was submitted\n";
    return kExitFailure;
  }
  const int64_t total = static_cast<int64_t>(plan.entries.size());
  const std::string skipped = plan.skipped_retracted == 0
                                  ? std::string()
                                  : absl::StrCat(", ", plan.skipped_retracted,
                                                 " retracted entries skipped");
  if (dry_run) {
    out << path << ": " << total << " entries valid (" << rows << " rows"
        << skipped << "); nothing submitted (--dry_run)\n";
    return kExitOk;
  }

  std::unique_ptr<v1::IngestService::Stub> stub = ImportStub(*client, err);
  if (stub == nullptr) return kExitUsage;
  int64_t stored = 0;
  int64_t batches = 0;
  uint64_t sequence = 0;
  for (int64_t begin = 0; begin < total; begin += *batch_size) {
    const int64_t end = std::min(total, begin + *batch_size);
    v1::SubmitRequest request;
    request.mutable_submissions()->Reserve(static_cast<int>(end - begin));
    for (int64_t i = begin; i < end; ++i) {
      *request.add_submissions() = ToSubmission(plan.entries[i]);
      plan.entries[i] = ParsedEntry();  // Frees what was not moved.
    }
    grpc::ClientContext context;
    PrepareContext(*client, /*deadline=*/true, &context);
    v1::SubmitResponse response;
    const grpc::Status status = stub->Submit(&context, request, &response);
    if (!status.ok() || response.entries_size() != end - begin) {
      err << "hashmatch: import: " << path << ": Submit of entries "
          << begin + 1 << ".." << end << " failed: "
          << (status.ok()
                  ? "INTERNAL: the response has " +
                        std::to_string(response.entries_size()) + " entries"
                  : GrpcCodeName(status.error_code()) + ": " +
                        status.error_message())
          << "\nhashmatch: import: " << path << ": " << stored << " of "
          << total
          << " entries were stored before the failure; run the same "
             "command again to complete the import (idempotent by "
             "external_id)\n";
      return kExitFailure;
    }
    stored += response.entries_size();
    sequence = response.sequence();
    ++batches;
  }
  out << path << ": " << stored << " entries submitted in " << batches
      << " batches (" << rows << " rows" << skipped << "; store sequence "
      << sequence << ")\n";
  return kExitOk;
}

namespace {

absl::StatusOr<v1::EntryFilter> FilterFromFlags(const ParsedFlags& flags) {
  v1::EntryFilter filter;
  if (std::optional<std::string> list = flags.Get("signal_types")) {
    for (absl::string_view name : absl::StrSplit(*list, ',')) {
      absl::StatusOr<v1::SignalType> t = ParseSignalTypeName(name);
      if (!t.ok()) return t.status();
      filter.add_signal_types(*t);
    }
  }
  if (std::optional<std::string> list = flags.Get("states")) {
    for (absl::string_view name : absl::StrSplit(*list, ',')) {
      absl::StatusOr<v1::VettingState> s = ParseStateName(name);
      if (!s.ok()) return s.status();
      filter.add_states(*s);
    }
  }
  filter.set_source_agency(flags.Get("agency").value_or(""));
  if (std::optional<std::string> since = flags.Get("updated_since")) {
    int64_t micros = 0;
    absl::Time t;
    std::string error;
    if (absl::SimpleAtoi(*since, &micros) && micros >= 0) {
      filter.set_updated_since_micros(micros);
    } else if (absl::ParseTime(absl::RFC3339_full, *since, &t, &error)) {
      filter.set_updated_since_micros(absl::ToUnixMicros(t));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--updated_since \"", *since,
          "\" is neither microseconds since the epoch nor an RFC 3339 time "
          "(2026-01-31T12:00:00Z)"));
    }
  }
  return filter;
}

// Streams the entries passing `filter` into `writer`.
absl::Status ExportFromStore(const HashStore& store,
                             const v1::EntryFilter& filter,
                             HashListWriter& writer) {
  return store
      .ForEachEntry(0,
                    [&](const v1::Entry& e) {
                      if (!EntryMatchesFilter(filter, e)) {
                        return absl::OkStatus();
                      }
                      return writer.Write(e);
                    })
      .status();
}

absl::Status ExportFromServer(const ClientFlags& client,
                              const v1::EntryFilter& filter,
                              HashListWriter& writer) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      NewClientChannel(client);
  if (!channel.ok()) return channel.status();
  std::unique_ptr<v1::IngestService::Stub> stub =
      v1::IngestService::NewStub(*channel);
  grpc::ClientContext context;
  // A whole export may take long: a deadline only when asked for.
  PrepareContext(client, client.timeout_given, &context);
  v1::ExportEntriesRequest request;
  *request.mutable_filter() = filter;
  std::unique_ptr<grpc::ClientReader<v1::Entry>> reader =
      stub->ExportEntries(&context, request);
  v1::Entry entry;
  absl::Status write_status;
  while (reader->Read(&entry)) {
    write_status = writer.Write(entry);
    if (!write_status.ok()) {
      context.TryCancel();
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  if (!write_status.ok()) return write_status;
  if (!status.ok()) {
    return absl::Status(
        static_cast<absl::StatusCode>(status.error_code()),
        absl::StrCat("ExportEntries: ", status.error_message()));
  }
  return absl::OkStatus();
}

}  // namespace

int RunExport(const std::vector<std::string>& args, std::ostream& out,
              std::ostream& err) {
  FlagParser parser;
  parser.AddBool("help");
  AddClientFlags(parser);
  parser.AddValue("format");
  parser.AddValue("db");
  parser.AddValue("out");
  parser.AddValue("signal_types");
  parser.AddValue("states");
  parser.AddValue("agency");
  parser.AddValue("updated_since");
  absl::StatusOr<ParsedFlags> flags = parser.Parse(args);
  if (!flags.ok()) return UsageError(err, "export", flags.status().message());
  if (flags->Has("help")) {
    PrintUsage(out);
    return kExitOk;
  }
  absl::StatusOr<HashListFormat> format = FormatFlag(*flags);
  if (!format.ok()) return UsageError(err, "export", format.status().message());
  if (!flags->positional().empty()) {
    return UsageError(err, "export", "export takes no FILE (use --out FILE)");
  }
  const std::string db = flags->Get("db").value_or("");
  if (db.empty() == !flags->Has("server")) {
    return UsageError(err, "export",
                      "give exactly one of --server ADDR and --db DIR");
  }
  std::optional<ClientFlags> client;
  if (db.empty()) {
    absl::StatusOr<ClientFlags> c = ClientFlagsFrom(*flags);
    if (!c.ok()) return UsageError(err, "export", c.status().message());
    client = *std::move(c);
  }
  absl::StatusOr<v1::EntryFilter> filter = FilterFromFlags(*flags);
  if (!filter.ok()) return UsageError(err, "export", filter.status().message());

  std::unique_ptr<HashStore> store;
  if (!db.empty()) {
    absl::StatusOr<std::unique_ptr<HashStore>> opened = OpenStoreReadOnly(db);
    if (!opened.ok()) {
      err << "hashmatch: export: " << opened.status() << "\n";
      return kExitFailure;
    }
    store = *std::move(opened);
  }
  const std::string out_path = flags->Get("out").value_or("");
  const std::string tmp_path =
      out_path.empty() ? "" : absl::StrCat(out_path, ".tmp.", getpid());
  std::ofstream file;
  std::ostream* sink = &out;
  if (!out_path.empty()) {
    // The hash list: the output is 0600 (whatever the umask) from the start.
    absl::StatusOr<int> fd = OpenPrivateFile(tmp_path, O_TRUNC);
    if (fd.ok()) {
      ::close(*fd);
      file.open(tmp_path, std::ios::binary | std::ios::trunc);
    }
    if (!fd.ok() || !file) {
      err << "hashmatch: export: cannot create " << tmp_path << "\n";
      return kExitFailure;
    }
    sink = &file;
  }
  std::unique_ptr<HashListWriter> writer = HashListWriter::New(*format, sink);
  absl::Status status = db.empty() ? ExportFromServer(*client, *filter, *writer)
                                   : ExportFromStore(*store, *filter, *writer);
  if (status.ok()) status = writer->Finish();
  if (status.ok() && !out_path.empty()) {
    file.close();
    if (!file) {
      status = absl::DataLossError(absl::StrCat("writing ", tmp_path));
    } else if (std::rename(tmp_path.c_str(), out_path.c_str()) != 0) {
      status = absl::InternalError(
          absl::StrCat("renaming ", tmp_path, " to ", out_path));
    }
  }
  if (!status.ok()) {
    if (!out_path.empty()) std::remove(tmp_path.c_str());
    err << "hashmatch: export: " << status << " (after " << writer->count()
        << " entries"
        << (out_path.empty() ? "" : "; no output file was written") << ")\n";
    return kExitFailure;
  }
  err << "hashmatch: export: " << writer->count() << " entries ("
      << HashListFormatName(*format) << ") from "
      << (db.empty() ? client->server : db)
      << (out_path.empty() ? "" : absl::StrCat(" to ", out_path)) << "\n";
  return kExitOk;
}

}  // namespace cli
}  // namespace hashmatch
