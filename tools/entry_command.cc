#include "tools/entry_command.h"

#include <limits>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/hashlist/hash_list_format.h"
#include "tools/client_flags.h"
#include "tools/commands.h"
#include "tools/flags.h"
#include "tools/output.h"

namespace hashmatch {
namespace cli {
namespace {

namespace v1 = ::hashmatch::v1;

constexpr char kEntryUsage[] =
    "Usage:\n"
    "  hashmatch entry get ID | --agency A --external_id X   CLIENT_FLAGS\n"
    "  hashmatch entry list [--state S[,S]] [--type T[,T]] [--agency A]\n"
    "      [--updated_since_micros T] [--page_size N] [--page_token T] "
    "[--all] CLIENT_FLAGS\n"
    "  hashmatch entry retract ID --reason TEXT CLIENT_FLAGS\n"
    "  hashmatch entry confirm ID [--note TEXT] CLIENT_FLAGS\n"
    "  hashmatch entry dispute ID --reason TEXT [--content_ref R] "
    "[--suspend] CLIENT_FLAGS\n"
    "  hashmatch entry resolve ID --outcome upheld|rejected --resolution "
    "TEXT CLIENT_FLAGS\n"
    "States: pending, active, disputed, retracted. Types: pdq, phash, dhash, "
    "md5, sha256.\n"
    "CLIENT_FLAGS: --server ADDR [--token_file F | --token T | "
    "$HASHMATCH_TOKEN]\n"
    "      [--tls_ca F [--tls_cert F --tls_key F] [--tls_server_name N]] "
    "[--timeout_ms N] [--json]\n"
    "Lines: id, type, hash, state, agency, external_id, classification, "
    "endorsed_by, disputes open/total, updated (tab-separated).\n"
    "Exit codes: 0 done, 1 the RPC failed, 2 usage error.\n";

int Usage(std::ostream& err, absl::string_view message) {
  err << "hashmatch: entry: " << message << "\n" << kEntryUsage;
  return kExitUsage;
}

int RpcFailed(std::ostream& err, const grpc::Status& status) {
  err << "hashmatch: entry: " << GrpcCodeName(status.error_code()) << ": "
      << status.error_message() << "\n";
  return kExitFailure;
}

// Tabs and line breaks in free text would break the line format.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  return s.empty() ? "-" : s;
}

std::string Details(const v1::Entry& e) {
  std::string out;
  for (const v1::Endorsement& en : e.endorsements()) {
    absl::StrAppend(&out, "  endorsed\t", en.agency(), "\t",
                    FormatUtcSeconds(en.at_micros()), "\t", OneLine(en.note()),
                    "\n");
  }
  for (const v1::Dispute& d : e.disputes()) {
    absl::StrAppend(&out, "  dispute\t", d.platform(), "\t",
                    FormatUtcSeconds(d.at_micros()), "\t", OneLine(d.reason()),
                    "\t", OneLine(d.content_ref()),
                    d.suspended() ? "\tsuspended" : "\tflagged");
    if (d.resolved_at_micros() != 0) {
      absl::StrAppend(&out, "\t", d.outcome(), " by ", d.resolved_by(), " ",
                      FormatUtcSeconds(d.resolved_at_micros()), ": ",
                      OneLine(d.resolution()));
    } else {
      out += "\topen";
    }
    out += "\n";
  }
  if (e.has_retraction()) {
    absl::StrAppend(&out, "  retracted\t", e.retraction().retracted_by(), "\t",
                    FormatUtcSeconds(e.retraction().retracted_at_micros()),
                    "\t", OneLine(e.retraction().reason()), "\n");
  }
  return out;
}

absl::StatusOr<uint64_t> ParseId(absl::string_view text) {
  absl::StatusOr<int64_t> id =
      ParseInt(text, 1, std::numeric_limits<int64_t>::max(), "entry ID");
  if (!id.ok()) return id.status();
  return static_cast<uint64_t>(*id);
}

absl::Status FillFilter(const ParsedFlags& flags, v1::EntryFilter* filter) {
  if (auto states = flags.Get("state")) {
    for (absl::string_view s : absl::StrSplit(*states, ',')) {
      absl::StatusOr<v1::VettingState> state = ParseStateName(s);
      if (!state.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--state: ", state.status().message()));
      }
      filter->add_states(*state);
    }
  }
  if (auto types = flags.Get("type")) {
    for (absl::string_view t : absl::StrSplit(*types, ',')) {
      absl::StatusOr<v1::SignalType> type = ParseSignalTypeName(t);
      if (!type.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--type: ", type.status().message()));
      }
      filter->add_signal_types(*type);
    }
  }
  filter->set_source_agency(flags.Get("agency").value_or(""));
  if (auto since = flags.Get("updated_since_micros")) {
    absl::StatusOr<int64_t> v =
        ParseInt(*since, 0, std::numeric_limits<int64_t>::max(),
                 "--updated_since_micros");
    if (!v.ok()) return v.status();
    filter->set_updated_since_micros(*v);
  }
  return absl::OkStatus();
}

}  // namespace

std::string EntryLine(const v1::Entry& e) {
  std::vector<std::string> endorsers;
  for (const v1::Endorsement& en : e.endorsements()) {
    endorsers.push_back(en.agency());
  }
  int open = 0;
  for (const v1::Dispute& d : e.disputes()) {
    if (d.resolved_at_micros() == 0) ++open;
  }
  const absl::string_view type = SignalTypeShortName(e.signal_type());
  const absl::string_view state = StateShortName(e.state());
  return absl::StrCat(
      e.id(), "\t", type.empty() ? "unknown" : type, "\t",
      absl::BytesToHexString(e.hash()), "\t", state.empty() ? "unknown" : state,
      "\t", e.source_agency(), "\t", OneLine(e.external_id()), "\t",
      OneLine(e.classification()), "\t",
      endorsers.empty() ? "-" : absl::StrJoin(endorsers, ","), "\t", open, "/",
      e.disputes_size(), "\t", FormatUtcSeconds(e.updated_at_micros()), "\n");
}

int RunEntry(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err) {
  if (args.empty()) return Usage(err, "no entry command given");
  if (args[0] == "--help" || args[0] == "help") {
    out << kEntryUsage;
    return kExitOk;
  }
  const std::string verb = args[0];
  FlagParser parser;
  AddClientFlags(parser);
  parser.AddBool("json");
  if (verb == "get") {
    parser.AddValue("agency");
    parser.AddValue("external_id");
  } else if (verb == "list") {
    parser.AddValue("state");
    parser.AddValue("type");
    parser.AddValue("agency");
    parser.AddValue("updated_since_micros");
    parser.AddValue("page_size");
    parser.AddValue("page_token");
    parser.AddBool("all");
  } else if (verb == "retract") {
    parser.AddValue("reason");
  } else if (verb == "confirm") {
    parser.AddValue("note");
  } else if (verb == "dispute") {
    parser.AddValue("reason");
    parser.AddValue("content_ref");
    parser.AddBool("suspend");
  } else if (verb == "resolve") {
    parser.AddValue("outcome");
    parser.AddValue("resolution");
  } else {
    return Usage(err, absl::StrCat("unknown entry command '", verb, "'"));
  }
  absl::StatusOr<ParsedFlags> flags =
      parser.Parse(std::vector<std::string>(args.begin() + 1, args.end()));
  if (!flags.ok()) return Usage(err, flags.status().message());
  absl::StatusOr<ClientFlags> client = ClientFlagsFrom(*flags);
  if (!client.ok()) return Usage(err, client.status().message());
  const bool json = flags->Has("json");
  const std::vector<std::string>& positional = flags->positional();

  // Validate everything before the first RPC.
  uint64_t id = 0;
  const bool by_external = verb == "get" && (flags->Get("agency").has_value() ||
                                             flags->Get("external_id"));
  if (verb == "list") {
    if (!positional.empty()) return Usage(err, "list takes no ID");
  } else if (by_external) {
    if (!positional.empty()) {
      return Usage(err, "get takes an ID or --agency with --external_id");
    }
    if (flags->Get("agency").value_or("").empty() ||
        flags->Get("external_id").value_or("").empty()) {
      return Usage(err, "get needs both --agency and --external_id");
    }
  } else {
    if (positional.size() != 1) {
      return Usage(err, absl::StrCat(verb, " needs exactly one entry ID"));
    }
    absl::StatusOr<uint64_t> parsed = ParseId(positional[0]);
    if (!parsed.ok()) return Usage(err, parsed.status().message());
    id = *parsed;
  }
  v1::ListEntriesRequest list;
  if (verb == "list") {
    absl::Status s = FillFilter(*flags, list.mutable_filter());
    if (!s.ok()) return Usage(err, s.message());
    if (auto size = flags->Get("page_size")) {
      absl::StatusOr<int64_t> n = ParseInt(*size, 1, 1 << 30, "--page_size");
      if (!n.ok()) return Usage(err, n.status().message());
      list.set_page_size(static_cast<int32_t>(*n));
    }
    list.set_page_token(flags->Get("page_token").value_or(""));
  }
  if ((verb == "retract" || verb == "dispute") &&
      flags->Get("reason").value_or("").empty()) {
    return Usage(err, absl::StrCat(verb, " needs --reason"));
  }
  v1::ResolveDisputeRequest resolve;
  if (verb == "resolve") {
    const std::string outcome = flags->Get("outcome").value_or("");
    if (outcome == "upheld") {
      resolve.set_outcome(v1::ResolveDisputeRequest::OUTCOME_UPHELD);
    } else if (outcome == "rejected") {
      resolve.set_outcome(v1::ResolveDisputeRequest::OUTCOME_REJECTED);
    } else {
      return Usage(err, "resolve needs --outcome upheld or rejected");
    }
    resolve.set_resolution(flags->Get("resolution").value_or(""));
    if (resolve.resolution().empty()) {
      return Usage(err, "resolve needs --resolution");
    }
    resolve.set_entry_id(id);
  }

  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      NewClientChannel(*client);
  if (!channel.ok()) {
    return Usage(err, absl::StrCat("TLS files: ", channel.status().message()));
  }
  std::unique_ptr<v1::IngestService::Stub> stub =
      v1::IngestService::NewStub(*channel);
  auto print_entry = [&](const v1::Entry& e, bool details) {
    if (json) {
      out << ProtoJson(e) << "\n";
    } else {
      out << EntryLine(e) << (details ? Details(e) : "");
    }
  };
  auto print_change = [&](const v1::Entry& e, uint64_t sequence) {
    print_entry(e, /*details=*/true);
    err << "hashmatch: entry: " << verb << " " << e.id() << ": state "
        << StateShortName(e.state()) << ", store sequence " << sequence << "\n";
  };

  if (verb == "get") {
    v1::GetEntryRequest request;
    if (by_external) {
      request.mutable_external()->set_agency(*flags->Get("agency"));
      request.mutable_external()->set_external_id(*flags->Get("external_id"));
    } else {
      request.set_entry_id(id);
    }
    v1::Entry entry;
    grpc::ClientContext context;
    PrepareContext(*client, /*deadline=*/true, &context);
    grpc::Status s = stub->GetEntry(&context, request, &entry);
    if (!s.ok()) return RpcFailed(err, s);
    print_entry(entry, /*details=*/true);
    return kExitOk;
  }
  if (verb == "list") {
    const bool all = flags->Has("all");
    while (true) {
      v1::ListEntriesResponse response;
      grpc::ClientContext context;
      PrepareContext(*client, /*deadline=*/true, &context);
      grpc::Status s = stub->ListEntries(&context, list, &response);
      if (!s.ok()) return RpcFailed(err, s);
      for (const v1::Entry& e : response.entries()) print_entry(e, false);
      out.flush();
      if (response.next_page_token().empty()) break;
      if (!all) {
        err << "next_page_token: " << response.next_page_token() << "\n";
        break;
      }
      list.set_page_token(response.next_page_token());
    }
    return kExitOk;
  }
  grpc::ClientContext context;
  PrepareContext(*client, /*deadline=*/true, &context);
  grpc::Status s;
  if (verb == "retract") {
    v1::RetractRequest request;
    request.set_entry_id(id);
    request.set_reason(*flags->Get("reason"));
    v1::RetractResponse response;
    s = stub->Retract(&context, request, &response);
    if (s.ok()) print_change(response.entry(), response.sequence());
  } else if (verb == "confirm") {
    v1::ConfirmRequest request;
    request.set_entry_id(id);
    request.set_note(flags->Get("note").value_or(""));
    v1::ConfirmResponse response;
    s = stub->Confirm(&context, request, &response);
    if (s.ok()) print_change(response.entry(), response.sequence());
  } else if (verb == "dispute") {
    v1::DisputeRequest request;
    request.set_entry_id(id);
    request.set_reason(*flags->Get("reason"));
    request.set_content_ref(flags->Get("content_ref").value_or(""));
    request.set_suspend(flags->Has("suspend"));
    v1::DisputeResponse response;
    s = stub->Dispute(&context, request, &response);
    if (s.ok()) print_change(response.entry(), response.sequence());
  } else {
    v1::ResolveDisputeResponse response;
    s = stub->ResolveDispute(&context, resolve, &response);
    if (s.ok()) print_change(response.entry(), response.sequence());
  }
  if (!s.ok()) return RpcFailed(err, s);
  return kExitOk;
}

}  // namespace cli
}  // namespace hashmatch
