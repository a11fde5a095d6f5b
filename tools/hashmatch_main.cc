// The `hashmatch` command-line tool: hash image files, compare hashes, find
// matching pairs, inspect a hash store, ask a match server, import or
// export hash lists, and keep the audit log's key and verify the log. See
// PrintUsage in commands.cc for the interface.
#include <iostream>
#include <string>
#include <vector>

#include "tools/admin_command.h"
#include "tools/audit_command.h"
#include "tools/commands.h"
#include "tools/db_commands.h"
#include "tools/entry_command.h"
#include "tools/eval_command.h"
#include "tools/import_export.h"
#include "tools/match_command.h"
#include "tools/reports_command.h"

#ifndef HASHMATCH_VERSION
#define HASHMATCH_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  using namespace hashmatch::cli;
  std::ios::sync_with_stdio(false);
  if (argc < 2) {
    std::cerr << "hashmatch: no command given\n";
    PrintUsage(std::cerr);
    return kExitUsage;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "hash") return RunHash(args, std::cout, std::cerr);
  if (command == "compare") return RunCompare(args, std::cout, std::cerr);
  if (command == "pairs") return RunPairs(args, std::cout, std::cerr);
  if (command == "db") return RunDb(args, std::cout, std::cerr);
  if (command == "match") return RunMatch(args, std::cout, std::cerr);
  if (command == "import") return RunImport(args, std::cout, std::cerr);
  if (command == "export") return RunExport(args, std::cout, std::cerr);
  if (command == "audit") return RunAudit(args, std::cout, std::cerr);
  if (command == "admin") return RunAdmin(args, std::cout, std::cerr);
  if (command == "entry") return RunEntry(args, std::cout, std::cerr);
  if (command == "eval") return RunEval(args, std::cout, std::cerr);
  if (command == "reports") return RunReports(args, std::cout, std::cerr);
  if (command == "help" || command == "--help" || command == "-h") {
    PrintUsage(std::cout);
    return kExitOk;
  }
  if (command == "version" || command == "--version") {
    std::cout << "hashmatch " << HASHMATCH_VERSION << "\n";
    return kExitOk;
  }
  std::cerr << "hashmatch: unknown command '" << command << "'\n";
  PrintUsage(std::cerr);
  return kExitUsage;
}
