#include "tools/reports_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/grpcpp.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/common/file_util.h"
#include "src/hashlist/hash_list_format.h"
#include "tools/client_flags.h"
#include "tools/commands.h"
#include "tools/flags.h"
#include "tools/output.h"

namespace hashmatch {
namespace cli {
namespace {

namespace v1 = ::hashmatch::v1;

constexpr char kReportsUsage[] =
    "Usage:\n"
    "  hashmatch reports list   --server HOST:PORT [--page_size N] "
    "[--page_token T] [FILTER] [OUTPUT] [CLIENT]\n"
    "  hashmatch reports export --server HOST:PORT [FILTER] [OUTPUT] "
    "[CLIENT]\n"
    "FILTER: --entry_id N --platform P --since_micros T --until_micros T\n"
    "OUTPUT: --format jsonl|csv (default jsonl) --out FILE (default stdout)\n"
    "CLIENT: --token T | --token_file F, --tls_ca --tls_cert --tls_key "
    "--tls_server_name --timeout_ms\n"
    "An agency sees the reports on its own entries; auditors and admins all.\n"
    "Exit codes: 0 done, 1 the RPC or the output failed, 2 usage error.\n";

int Usage(std::ostream& err, absl::string_view message) {
  err << "hashmatch: reports: " << message << "\n" << kReportsUsage;
  return kExitUsage;
}

std::string SignalName(v1::SignalType t) {
  std::string name = v1::SignalType_Name(t);
  if (absl::StartsWith(name, "SIGNAL_TYPE_")) name = name.substr(12);
  return absl::AsciiStrToLower(name);
}

std::string QueryHashes(const v1::MatchReport& r) {
  std::vector<std::string> parts;
  for (const v1::ReportedHash& h : r.query_hashes()) {
    parts.push_back(absl::StrCat(SignalName(h.signal_type()), ":",
                                 absl::BytesToHexString(h.hash())));
  }
  return absl::StrJoin(parts, ";");
}

}  // namespace

std::string ReportJsonLine(const v1::MatchReport& r) {
  std::string out = absl::StrCat(
      "{\"report_id\":", r.report_id(),
      ",\"report_key\":", JsonString(r.report_key()),
      ",\"match_server\":", JsonString(r.match_server()),
      ",\"platform\":", JsonString(r.platform()),
      ",\"content_ref\":", JsonString(r.content_ref()),
      ",\"matched_at_micros\":", r.matched_at_micros(),
      ",\"received_at_micros\":", r.received_at_micros(),
      ",\"index_sequence\":", r.index_sequence(), ",\"query_hashes\":[");
  for (int i = 0; i < r.query_hashes_size(); ++i) {
    const v1::ReportedHash& h = r.query_hashes(i);
    absl::StrAppend(&out, i > 0 ? "," : "", "{\"signal_type\":",
                    JsonString(SignalName(h.signal_type())), ",\"hash\":\"",
                    absl::BytesToHexString(h.hash()), "\"");
    if (h.has_quality()) absl::StrAppend(&out, ",\"quality\":", h.quality());
    out += "}";
  }
  out += "],\"matches\":[";
  for (int i = 0; i < r.matches_size(); ++i) {
    const v1::ReportedMatch& m = r.matches(i);
    absl::StrAppend(
        &out, i > 0 ? "," : "", "{\"entry_id\":", m.entry_id(),
        ",\"signal_type\":", JsonString(SignalName(m.signal_type())),
        ",\"distance\":", m.distance(),
        ",\"source_agency\":", JsonString(m.source_agency()),
        ",\"classification\":", JsonString(m.classification()), "}");
  }
  out += "]}\n";
  return out;
}

std::string ReportCsvHeader() {
  return "report_id,report_key,match_server,platform,content_ref,"
         "matched_at_micros,received_at_micros,index_sequence,query_hashes,"
         "entry_id,signal_type,distance,source_agency,classification\n";
}

std::string ReportCsvRows(const v1::MatchReport& r) {
  std::string out;
  for (const v1::ReportedMatch& m : r.matches()) {
    const std::vector<std::string> fields = {
        absl::StrCat(r.report_id()),
        r.report_key(),
        r.match_server(),
        r.platform(),
        r.content_ref(),
        absl::StrCat(r.matched_at_micros()),
        absl::StrCat(r.received_at_micros()),
        absl::StrCat(r.index_sequence()),
        QueryHashes(r),
        absl::StrCat(m.entry_id()),
        SignalName(m.signal_type()),
        absl::StrCat(m.distance()),
        m.source_agency(),
        m.classification()};
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i > 0) out += ",";
      AppendCsvField(fields[i], &out);
    }
    out += "\n";
  }
  return out;
}

int RunReports(const std::vector<std::string>& args, std::ostream& out,
               std::ostream& err) {
  if (args.empty()) return Usage(err, "list or export?");
  if (args[0] == "--help" || args[0] == "help") {
    out << kReportsUsage;
    return kExitOk;
  }
  const std::string verb = args[0];
  if (verb != "list" && verb != "export") {
    return Usage(err, absl::StrCat("unknown reports command '", verb, "'"));
  }
  FlagParser parser;
  AddClientFlags(parser);
  for (const char* f : {"format", "out", "entry_id", "platform", "since_micros",
                        "until_micros"}) {
    parser.AddValue(f);
  }
  if (verb == "list") {
    parser.AddValue("page_size");
    parser.AddValue("page_token");
  }
  absl::StatusOr<ParsedFlags> flags =
      parser.Parse(std::vector<std::string>(args.begin() + 1, args.end()));
  if (!flags.ok()) return Usage(err, flags.status().message());
  if (!flags->positional().empty()) {
    return Usage(err, absl::StrCat(verb, " takes no positional arguments"));
  }
  absl::StatusOr<ClientFlags> client = ClientFlagsFrom(*flags);
  if (!client.ok()) return Usage(err, client.status().message());
  const std::string format = flags->Get("format").value_or("jsonl");
  if (format != "jsonl" && format != "csv") {
    return Usage(
        err, absl::StrCat("--format must be jsonl or csv, got '", format, "'"));
  }
  v1::ListReportsRequest request;
  v1::ReportFilter* filter = request.mutable_filter();
  struct IntFlag {
    const char* name;
    int64_t min, max;
  };
  for (const IntFlag& f :
       {IntFlag{"entry_id", 1, INT64_MAX},
        IntFlag{"since_micros", 0, INT64_MAX},
        IntFlag{"until_micros", 0, INT64_MAX}, IntFlag{"page_size", 1, 1000}}) {
    std::optional<std::string> text = flags->Get(f.name);
    if (!text) continue;
    absl::StatusOr<int64_t> v =
        ParseInt(*text, f.min, f.max, absl::StrCat("--", f.name));
    if (!v.ok()) return Usage(err, v.status().message());
    const std::string name = f.name;
    if (name == "entry_id") filter->set_entry_id(static_cast<uint64_t>(*v));
    if (name == "since_micros") filter->set_since_micros(*v);
    if (name == "until_micros") filter->set_until_micros(*v);
    if (name == "page_size") request.set_page_size(static_cast<int32_t>(*v));
  }
  filter->set_platform(flags->Get("platform").value_or(""));
  request.set_page_token(flags->Get("page_token").value_or(""));

  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      NewClientChannel(*client);
  if (!channel.ok()) {
    return Usage(err, absl::StrCat("TLS files: ", channel.status().message()));
  }
  std::unique_ptr<v1::ReportService::Stub> stub =
      v1::ReportService::NewStub(*channel);

  std::ofstream file;
  std::ostream* sink = &out;
  const std::string out_path = flags->Get("out").value_or("");
  if (!out_path.empty()) {
    // Reports hold platforms' content references: a regular --out file is
    // made 0600 (whatever the umask) before anything is written to it.
    absl::StatusOr<int> fd = OpenPrivateFile(out_path, O_TRUNC);
    if (fd.ok()) {
      ::close(*fd);
      file.open(out_path, std::ios::binary | std::ios::trunc);
    }
    if (!fd.ok() || !file) {
      err << "hashmatch: reports: cannot write --out " << out_path << "\n";
      return kExitFailure;
    }
    sink = &file;
  }
  if (format == "csv") *sink << ReportCsvHeader();
  int64_t count = 0;
  for (;;) {
    v1::ListReportsResponse response;
    grpc::ClientContext context;
    PrepareContext(*client, /*deadline=*/true, &context);
    grpc::Status s = stub->ListReports(&context, request, &response);
    if (!s.ok()) {
      err << "hashmatch: reports: " << GrpcCodeName(s.error_code()) << ": "
          << s.error_message() << "\n";
      return kExitFailure;
    }
    for (const v1::MatchReport& r : response.reports()) {
      *sink << (format == "csv" ? ReportCsvRows(r) : ReportJsonLine(r));
      ++count;
    }
    if (response.next_page_token().empty()) break;
    if (verb == "list") {
      err << "next_page_token " << response.next_page_token() << "\n";
      break;
    }
    request.set_page_token(response.next_page_token());
  }
  sink->flush();
  if (!*sink) {
    err << "hashmatch: reports: writing the output failed\n";
    return kExitFailure;
  }
  err << "hashmatch: reports: " << count << " reports\n";
  return kExitOk;
}

}  // namespace cli
}  // namespace hashmatch
