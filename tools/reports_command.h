// `hashmatch reports list|export`: match reports from an ingest_server's
// ReportService, for the authority (auditor/admin: all) or an agency (its
// own entries' reports, other agencies' matches removed by the server).
//
//   hashmatch reports export --server HOST:PORT --token_file auditor.token
//       --format csv --out reports.csv [--entry_id N] [--platform P]
//       [--since_micros T] [--until_micros T]
//   hashmatch reports list --server ... --page_size 50 [--page_token TOK]
//
// list prints one page (the next page token, if any, goes to stderr);
// export follows every page. --format jsonl (default): one JSON object per
// report, hashes in lowercase hex, times in microseconds since the epoch.
// --format csv: a header, then one row per (report, matched entry), RFC 4180
// quoting. Client flags (TLS, token) as in tools/client_flags.h.
//
// Exit codes: 0 done, 1 the RPC or the output failed, 2 usage error.
#ifndef HASHMATCH_TOOLS_REPORTS_COMMAND_H_
#define HASHMATCH_TOOLS_REPORTS_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

#include "proto/hashmatch/v1/ingest.pb.h"

namespace hashmatch {
namespace cli {

int RunReports(const std::vector<std::string>& args, std::ostream& out,
               std::ostream& err);

// One JSON line (with "\n") for `r`.
std::string ReportJsonLine(const hashmatch::v1::MatchReport& r);
// The CSV header line, and the rows of `r` (one per match).
std::string ReportCsvHeader();
std::string ReportCsvRows(const hashmatch::v1::MatchReport& r);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_REPORTS_COMMAND_H_
