#include "src/hashlist/hash_list_format.h"

#include <algorithm>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kPdq(64, 'a');
const std::string kPdq2 = std::string(63, '0') + "1";
const std::string kMd5 = "d41d8cd98f00b204e9800998ecf8427e";
const std::string kSha =
    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
const std::string kPhash = "0123456789abcdef";

ParseResult Parse(absl::string_view data, HashListFormat format,
                  ParseOptions options = {}) {
  return ParseHashList(data, format, options);
}

// "line: message" per error, for compact assertions.
std::vector<std::string> Errors(const ParseResult& r) {
  std::vector<std::string> out;
  for (const LineError& e : r.errors) {
    out.push_back(absl::StrCat(e.line, ": ", e.message));
  }
  return out;
}

std::string ErrorText(const ParseResult& r) {
  return absl::StrJoin(Errors(r), "\n");
}

std::string Hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

// ---- CSV ----

TEST(CsvTest, HappyPathAllColumnsAndDerivedExternalId) {
  const std::string csv = absl::StrCat(
      "signal_type,signal_value,external_id,quality,classification,note\n",
      "pdq,", kPdq, ",a-1,87,A1,first\n", "md5,", kMd5, ",,,,\n", "SHA256,",
      kSha, ",s-1,,B2,\n", "phash,", kPhash, ",p-1,0,,\n");
  ParseResult r = Parse(csv, HashListFormat::kCsv);
  ASSERT_TRUE(r.errors.empty()) << ErrorText(r);
  ASSERT_EQ(r.entries.size(), 4u);
  EXPECT_EQ(r.rows, 4);
  const ParsedEntry& p = r.entries[0];
  EXPECT_EQ(p.line, 2);
  EXPECT_EQ(p.entry.signal_type(), v1::SIGNAL_TYPE_PDQ);
  EXPECT_EQ(Hex(p.entry.hash()), kPdq);
  EXPECT_EQ(p.entry.external_id(), "a-1");
  EXPECT_TRUE(p.has_quality);
  EXPECT_EQ(p.entry.quality(), 87);
  EXPECT_EQ(p.entry.classification(), "A1");
  EXPECT_EQ(p.entry.note(), "first");
  EXPECT_FALSE(p.derived_external_id);
  // No external_id: derived from the hash, deterministic.
  EXPECT_EQ(r.entries[1].entry.external_id(), "md5:" + kMd5);
  EXPECT_TRUE(r.entries[1].derived_external_id);
  EXPECT_FALSE(r.entries[1].has_quality);
  // Upper-case hex and signal name accepted; stored as bytes.
  EXPECT_EQ(r.entries[2].entry.signal_type(), v1::SIGNAL_TYPE_SHA256);
  EXPECT_EQ(Hex(r.entries[2].entry.hash()), absl::AsciiStrToLower(kSha));
  EXPECT_TRUE(r.entries[3].has_quality);
  EXPECT_EQ(r.entries[3].entry.quality(), 0);
}

TEST(CsvTest, ThreatExchangeColumnNamesAndIndicatorTypes) {
  const std::string csv =
      absl::StrCat("Indicator,Indicator_Type,Descriptor_ID,Tags\n", kPdq,
                   ",HASH_PDQ,1234567,media_priority_s1 media_type_photo\n",
                   kMd5, ",hash_md5,7654321,\n");
  ParseResult r = Parse(csv, HashListFormat::kCsv);
  ASSERT_TRUE(r.errors.empty()) << ErrorText(r);
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0].entry.signal_type(), v1::SIGNAL_TYPE_PDQ);
  EXPECT_EQ(r.entries[0].entry.external_id(), "1234567");
  EXPECT_EQ(r.entries[0].entry.classification(),
            "media_priority_s1 media_type_photo");
  EXPECT_EQ(r.entries[1].entry.signal_type(), v1::SIGNAL_TYPE_MD5);
}

TEST(CsvTest, ExportOnlyColumnsAreIgnored) {
  const std::string csv = absl::StrCat(
      "signal_type,signal_value,id,source_agency,state,created_at,updated_at\n",
      "pdq,", kPdq, ",99,other,retracted,2026-01-01T00:00:00Z,x\n");
  ParseResult r = Parse(csv, HashListFormat::kCsv);
  ASSERT_TRUE(r.errors.empty()) << ErrorText(r);
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].entry.id(), 0u);
  EXPECT_EQ(r.entries[0].entry.source_agency(), "");
  EXPECT_EQ(r.entries[0].entry.state(), v1::VETTING_STATE_UNSPECIFIED);
}

TEST(CsvTest, HeaderErrors) {
  ParseResult r = Parse("signal_type,hash,signal_type\n", HashListFormat::kCsv);
  EXPECT_THAT(
      Errors(r),
      ElementsAre(HasSubstr("1: header: unknown column \"hash\""),
                  HasSubstr("1: header: column \"signal_type\" given twice"),
                  HasSubstr("1: header: required column \"signal_value\" is "
                            "missing")));
  // An alias and its name are the same column.
  r = Parse("signal_value,indicator,signal_type\n", HashListFormat::kCsv);
  EXPECT_THAT(Errors(r), ElementsAre(HasSubstr("1: header: column "
                                               "\"indicator\" given twice")));
  // No header at all: a data row is not a header.
  r = Parse(absl::StrCat("pdq,", kPdq, "\n"), HashListFormat::kCsv);
  EXPECT_THAT(Errors(r), ElementsAre(HasSubstr("1: header: unknown column "
                                               "\"pdq\""),
                                     HasSubstr("unknown column"),
                                     HasSubstr("required column \"signal_type"),
                                     HasSubstr("required column "
                                               "\"signal_value")));
  EXPECT_TRUE(r.entries.empty());
}

TEST(CsvTest, EveryRowErrorWithItsLineNumberAndNothingKept) {
  const std::string csv = absl::StrCat(
      "signal_type,signal_value,external_id,quality,classification,note\n",
      "pdq,", kPdq, ",ok-1,50,,\n",                            // 2: fine
      "vpdq,", kPdq, ",e3,,,\n",                               // 3
      "pdq,", kPdq.substr(1), ",e4,,,\n",                      // 4
      "md5,", kMd5.substr(0, 31), "x,e5,,,\n",                 // 5
      "pdq,", kPdq2, ",e6,101,,\n",                            // 6
      "pdq,", kPdq2, ",e7,-1,,\n",                             // 7
      "pdq,", kPdq2, ",e8,high,,\n",                           // 8
      "pdq,", kPdq2, ",e9,,\n",                                // 9: 5 fields
      "pdq,", kPdq2, ",", std::string(257, 'x'), ",,,\n",      // 10
      "pdq,", kPdq2, ",e11,,,", std::string(4097, 'n'), "\n",  // 11
      "pdq,", kPdq2, ",e12,,\xff\xfe,\n",                      // 12
      ",", kPdq2, ",e13,,,\n",                                 // 13
      "dhash,,e14,,,\n",                                       // 14
      "pdq,", kPdq, ",ok-1,,,\n",                              // 15: dup of 2
      "dhash,", kPhash, ",,,,\n",                              // 16
      "dhash,", kPhash, ",,,,\n");                             // 17: dup of 16
  ParseResult r = Parse(csv, HashListFormat::kCsv);
  EXPECT_THAT(
      Errors(r),
      ElementsAre(
          HasSubstr("3: unknown signal_type \"vpdq\""),
          "4: signal_value: a pdq hash has 64 hex digits, got 63",
          "5: signal_value: not a hex digit at position 32",
          "6: quality 101 is out of range 0..100",
          "7: quality -1 is out of range 0..100",
          "8: quality \"high\" is not an integer",
          "9: has 5 fields, the header 6",
          "10: external_id is 257 bytes, more than the limit of 256",
          "11: note is 4097 bytes, more than the limit of 4096",
          "12: classification is not valid UTF-8", "13: signal_type is missing",
          "14: signal_value is missing",
          "15: duplicate external_id \"ok-1\" (first on line 2)",
          HasSubstr("17: duplicate external_id \"dhash:0123456789abcdef\" "
                    "(first on line 16): the same hash without")));
  EXPECT_EQ(r.total_errors, 14);
  EXPECT_TRUE(r.entries.empty());  // Nothing of a bad file is used.
  EXPECT_EQ(r.rows, 16);
}

TEST(CsvTest, QuotingEdgeCases) {
  const std::string csv = absl::StrCat(
      "signal_type,signal_value,external_id,note\n", "pdq,", kPdq,
      ",\"a,b\",\"say \"\"hi\"\"\"\n",                        // 2
      "\"pdq\",\"", kPdq2, "\",q2,\"two\nlines\r\nhere\"\n",  // 3-5
      "md5,", kMd5, ",q3,\"\"\n");                            // 6
  ParseResult r = Parse(csv, HashListFormat::kCsv);
  ASSERT_TRUE(r.errors.empty()) << ErrorText(r);
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries[0].entry.external_id(), "a,b");
  EXPECT_EQ(r.entries[0].entry.note(), "say \"hi\"");
  EXPECT_EQ(r.entries[1].entry.note(), "two\nlines\r\nhere");
  EXPECT_EQ(r.entries[1].line, 3);
  EXPECT_EQ(r.entries[2].line, 6);  // Line count goes on inside quotes.
  EXPECT_EQ(r.entries[2].entry.note(), "");
}

TEST(CsvTest, QuotingErrors) {
  const std::string csv =
      absl::StrCat("signal_type,signal_value,external_id\n", "pdq,", kPdq,
                   ",ab\"c\n",                  // 2: quote in unquoted field
                   "pdq,", kPdq, ",\"ab\"c\n",  // 3: text after closing quote
                   "pdq,", kPdq, ",x\ry\n",     // 4: bare CR
                   "pdq,", kPdq2, ",fine\n",    // 5
                   "pdq,", kPdq, ",\"open\nstill\n");  // 6: unterminated
  ParseResult r = Parse(csv, HashListFormat::kCsv);
  EXPECT_THAT(
      Errors(r),
      ElementsAre("2: quote inside an unquoted field (quote the whole field)",
                  HasSubstr("3: unexpected character after a closing quote"),
                  "4: carriage return not followed by a line feed",
                  "6: unterminated quoted field (opened on line 6)"));
  EXPECT_TRUE(r.entries.empty());
}

TEST(CsvTest, CrlfBomEmptyLinesAndNoFinalNewline) {
  const std::string csv =
      absl::StrCat("\xEF\xBB\xBFsignal_type,signal_value,external_id\r\n",
                   "\r\n", "pdq,", kPdq, ",c1\r\n", "\n", "md5,", kMd5, ",c2");
  ParseResult r = Parse(csv, HashListFormat::kCsv);
  ASSERT_TRUE(r.errors.empty()) << ErrorText(r);
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0].entry.external_id(), "c1");  // No '\r' kept.
  EXPECT_EQ(r.entries[0].line, 3);
  EXPECT_EQ(r.entries[1].entry.external_id(), "c2");
  EXPECT_EQ(r.entries[1].line, 5);
}

TEST(CsvTest, EmptyFileAndHeaderOnly) {
  ParseResult r = Parse("", HashListFormat::kCsv);
  EXPECT_THAT(Errors(r),
              ElementsAre("1: empty file: the header row is missing"));
  r = Parse("\xEF\xBB\xBF", HashListFormat::kCsv);
  EXPECT_EQ(r.errors.size(), 1u);
  r = Parse("signal_type,signal_value\n", HashListFormat::kCsv);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.entries.empty());
}

TEST(CsvTest, RowLimitAndErrorCap) {
  std::string csv = "signal_type,signal_value\n";
  for (int i = 0; i < 5; ++i) absl::StrAppend(&csv, "md5,", kMd5, "\n");
  ParseOptions options;
  options.max_rows = 3;
  options.max_errors = 2;
  ParseResult r = Parse(csv, HashListFormat::kCsv, options);
  // Rows 2..4 are read (3 and 4 duplicate row 2), the 4th row stops it.
  EXPECT_EQ(r.total_errors, 3);
  // The first two found (the limit, then the duplicate on line 3), in line
  // order.
  EXPECT_THAT(Errors(r),
              ElementsAre(HasSubstr("3: duplicate external_id"),
                          "5: more than 3 rows (the row limit); stopped here"));
  EXPECT_TRUE(r.entries.empty());
}

// ---- JSONL ----

TEST(JsonlTest, HappyPath) {
  const std::string jsonl = absl::StrCat(
      "{\"signal_type\":\"pdq\",\"signal_value\":\"", kPdq,
      "\",\"external_id\":\"j1\",\"quality\":90,\"classification\":\"A\","
      "\"note\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\\n\"}\n",
      "\n", "  { \"signal_value\" : \"", kMd5,
      "\" , \"signal_type\" : \"MD5\", \"quality\": null }  \r\n",
      "{\"signal_type\":\"sha256\",\"signal_value\":\"", kSha,
      "\",\"id\":7,\"source_agency\":\"x\",\"state\":\"active\","
      "\"created_at\":\"\",\"updated_at\":\"\"}");
  ParseResult r = Parse(jsonl, HashListFormat::kJsonl);
  ASSERT_TRUE(r.errors.empty()) << ErrorText(r);
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries[0].entry.note(), "caf\xC3\xA9 \xF0\x9F\x98\x80 \"q\"\n");
  EXPECT_EQ(r.entries[0].entry.quality(), 90);
  EXPECT_TRUE(r.entries[0].has_quality);
  EXPECT_EQ(r.entries[1].line, 3);
  EXPECT_FALSE(r.entries[1].has_quality);
  EXPECT_EQ(r.entries[1].entry.external_id(), "md5:" + kMd5);
  EXPECT_EQ(r.entries[2].entry.id(), 0u);  // Export-only keys ignored.
}

TEST(JsonlTest, EveryErrorWithItsLineNumber) {
  const std::string good =
      absl::StrCat("\"signal_type\":\"pdq\",\"signal_value\":\"", kPdq, "\"");
  const std::string jsonl =
      absl::StrCat("{", good, "}\n",                          // 1 fine
                   "[1]\n",                                   // 2
                   "{", good, ",\"tags\":\"x\"}\n",           // 3
                   "{", good, ",\"signal_type\":\"md5\"}\n",  // 4
                   "{", good, ",\"quality\":\"9\"}\n",        // 5
                   "{", good, ",\"quality\":1.5}\n",          // 6
                   "{", good, ",\"note\":{\"a\":1}}\n",       // 7
                   "{", good, ",\"external_id\":5}\n",        // 8
                   "{\"signal_type\":\"pdq\"}\n",             // 9
                   "{", good, "} x\n",                        // 10
                   "{", good, ",\"note\":\"\\ud800\"}\n",     // 11
                   "{", good, ",\"note\":\"\xc3\"}\n",        // 12
                   "{", good, ",\"quality\":true}\n",         // 13
                   "{\"signal_type\":\"pdq\",\"signal_value\":\"", kPdq2,
                   "\",\"quality\":300}\n",  // 14
                   "{", good, "\n");         // 15
  ParseResult r = Parse(jsonl, HashListFormat::kJsonl);
  EXPECT_THAT(
      Errors(r),
      ElementsAre(
          "2: bad JSON: expected a JSON object ('{') at column 1",
          "3: unknown key \"tags\"", "4: key \"signal_type\" given twice",
          "5: \"quality\" must be an integer",
          "6: \"quality\" must be an integer",
          HasSubstr("7: bad JSON: \"note\": nested objects and arrays"),
          "8: \"external_id\" must be a string", "9: signal_value is missing",
          HasSubstr("10: bad JSON: text after the end of the object"),
          HasSubstr("11: bad JSON: unpaired UTF-16 surrogate"),
          "12: not valid UTF-8", "13: \"quality\" must be an integer",
          "14: quality 300 is out of range 0..100",
          HasSubstr("15: bad JSON: expected ',' or '}'")));
  EXPECT_TRUE(r.entries.empty());
}

TEST(JsonlTest, EmptyFileIsNoEntriesAndDuplicatesAcrossLines) {
  ParseResult r = Parse("", HashListFormat::kJsonl);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.entries.empty());
  const std::string row = absl::StrCat(
      "{\"signal_type\":\"pdq\",\"signal_value\":\"", kPdq, "\"}\n");
  r = Parse(absl::StrCat(row, row), HashListFormat::kJsonl);
  EXPECT_THAT(Errors(r), ElementsAre(HasSubstr("2: duplicate external_id "
                                               "\"pdq:")));
}

// ---- writers and the lossless format ----

v1::Entry FullEntry(uint64_t id) {
  v1::Entry e;
  e.set_id(id);
  e.set_signal_type(v1::SIGNAL_TYPE_PDQ);
  e.set_hash(std::string("\x00\xff\x10,\"\n", 6) + std::string(26, '\x7f'));
  e.set_quality(73);
  e.set_source_agency("hotline-a");
  e.set_external_id(absl::StrCat("ext,\"", id, "\"\n"));
  e.set_classification("A1");
  e.set_state(v1::VETTING_STATE_ACTIVE);
  e.set_created_at_micros(1764300000123456);
  e.set_updated_at_micros(1764300000999999);
  e.set_note("note with\ttab and \xC3\xA9");
  v1::Endorsement* en = e.add_endorsements();
  en->set_agency("hotline-a");
  en->set_at_micros(1764300000123456);
  en->set_note("first");
  e.add_endorsements()->set_agency("police-b");
  v1::Dispute* d = e.add_disputes();
  d->set_platform("platform-c");
  d->set_at_micros(1764300000500000);
  d->set_reason("cat photo");
  d->set_content_ref("upload/42");
  d->set_suspended(true);
  d->set_resolved_by("hotline-a");
  d->set_resolved_at_micros(1764300000600000);
  d->set_outcome("rejected");
  d->set_resolution("not a cat");
  return e;
}

std::vector<v1::Entry> SampleEntries() {
  std::vector<v1::Entry> entries = {FullEntry(1), FullEntry(2)};
  entries[1].set_state(v1::VETTING_STATE_RETRACTED);
  entries[1].mutable_retraction()->set_retracted_by("hotline-a");
  entries[1].mutable_retraction()->set_retracted_at_micros(1764300001000000);
  entries[1].mutable_retraction()->set_reason("mistake");
  entries[1].mutable_retraction()->set_previous_state(v1::VETTING_STATE_ACTIVE);
  v1::Entry md5;
  md5.set_id(9);
  md5.set_signal_type(v1::SIGNAL_TYPE_MD5);
  md5.set_hash(std::string(16, '\x01'));
  md5.set_state(v1::VETTING_STATE_PENDING);
  entries.push_back(md5);
  return entries;
}

std::string WriteAll(HashListFormat format,
                     const std::vector<v1::Entry>& entries) {
  std::ostringstream out;
  std::unique_ptr<HashListWriter> w = HashListWriter::New(format, &out);
  for (const v1::Entry& e : entries) EXPECT_TRUE(w->Write(e).ok());
  EXPECT_TRUE(w->Finish().ok());
  EXPECT_EQ(w->count(), static_cast<int64_t>(entries.size()));
  return out.str();
}

TEST(LosslessTest, RoundTripsEveryFieldBitForBit) {
  const std::vector<v1::Entry> entries = SampleEntries();
  const std::string text = WriteAll(HashListFormat::kHashmatch, entries);
  EXPECT_TRUE(absl::StartsWith(text, "hashmatch-entries v1\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "\nend 3 ")) << text;
  ParseResult r = Parse(text, HashListFormat::kHashmatch);
  ASSERT_TRUE(r.errors.empty()) << ErrorText(r);
  ASSERT_EQ(r.entries.size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        r.entries[i].entry, entries[i]))
        << r.entries[i].entry.DebugString();
    EXPECT_EQ(r.entries[i].entry.SerializeAsString(),
              entries[i].SerializeAsString());
    EXPECT_EQ(r.entries[i].line, static_cast<int64_t>(i) + 2);
  }
  // Writing what was read gives the same bytes.
  std::vector<v1::Entry> again;
  for (const ParsedEntry& p : r.entries) again.push_back(p.entry);
  EXPECT_EQ(WriteAll(HashListFormat::kHashmatch, again), text);
}

TEST(LosslessTest, EmptyListRoundTrips) {
  const std::string text = WriteAll(HashListFormat::kHashmatch, {});
  ParseResult r = Parse(text, HashListFormat::kHashmatch);
  EXPECT_TRUE(r.errors.empty()) << ErrorText(r);
  EXPECT_TRUE(r.entries.empty());
}

TEST(LosslessTest, TruncationAndEditsAreDetected) {
  const std::string text =
      WriteAll(HashListFormat::kHashmatch, SampleEntries());
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  ASSERT_EQ(lines.size(), 6u);  // header, 3 records, end, "".
  // Cut before the end line.
  std::string cut =
      absl::StrCat(lines[0], "\n", lines[1], "\n", lines[2], "\n");
  ParseResult r = Parse(cut, HashListFormat::kHashmatch);
  EXPECT_THAT(Errors(r),
              ElementsAre("4: truncated: the end line \"end COUNT SHA256\" "
                          "is missing"));
  EXPECT_TRUE(r.entries.empty());
  // Cut in the middle of a record.
  r = Parse(text.substr(0, text.find('\n') + 20), HashListFormat::kHashmatch);
  EXPECT_THAT(Errors(r),
              ::testing::Contains(HasSubstr("2: truncated: the last record")));
  // A record removed.
  std::string removed =
      absl::StrJoin({lines[0], lines[1], lines[3], lines[4], lines[5]}, "\n");
  r = Parse(removed, HashListFormat::kHashmatch);
  EXPECT_THAT(Errors(r),
              ElementsAre("4: the end line counts 3 records, the file has 2",
                          HasSubstr("4: checksum mismatch")));
  // A record edited (still valid JSON and a valid entry).
  std::string edited = absl::StrReplaceAll(text, {{"\"A1\"", "\"B1\""}});
  ASSERT_NE(edited, text);
  r = Parse(edited, HashListFormat::kHashmatch);
  EXPECT_THAT(Errors(r), ElementsAre(HasSubstr("5: checksum mismatch")));
  // Text after the end line.
  r = Parse(text + "{}\n", HashListFormat::kHashmatch);
  EXPECT_THAT(Errors(r), ElementsAre("6: text after the end line"));
  // Wrong header, empty file.
  r = Parse("hashmatch-entries v2\n", HashListFormat::kHashmatch);
  EXPECT_THAT(Errors(r), ElementsAre(HasSubstr("1: not a hashmatch lossless")));
  r = Parse("", HashListFormat::kHashmatch);
  EXPECT_THAT(Errors(r), ElementsAre(HasSubstr("1: empty file")));
}

// A lossless file around hand-written records; its end line has the right
// count and a wrong checksum (reported last).
std::string LosslessFile(const std::vector<std::string>& records) {
  return absl::StrCat("hashmatch-entries v1\n", absl::StrJoin(records, "\n"),
                      "\nend ", records.size(), " 00\n");
}

TEST(LosslessTest, RecordValidationErrors) {
  const std::string pdq_b64 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  const std::string ok = absl::StrCat(
      "{\"id\":\"1\",\"signal_type\":\"SIGNAL_TYPE_PDQ\",\"hash\":\"", pdq_b64,
      "\",\"external_id\":\"x\",\"state\":\"VETTING_STATE_ACTIVE\"}");
  const std::string file = LosslessFile({
      ok,                            // 2
      "{\"id\":\"2\",\"bogus\":1}",  // 3
      absl::StrCat("{\"id\":\"3\",\"signal_type\":\"SIGNAL_TYPE_MD5\","
                   "\"hash\":\"",
                   pdq_b64, "\",\"state\":\"VETTING_STATE_ACTIVE\"}"),  // 4
      absl::StrCat("{\"id\":\"1\",\"signal_type\":\"SIGNAL_TYPE_PDQ\","
                   "\"hash\":\"",
                   pdq_b64, "\",\"state\":\"VETTING_STATE_ACTIVE\"}"),  // 5
      absl::StrCat("{\"id\":\"6\",\"signal_type\":\"SIGNAL_TYPE_PDQ\","
                   "\"hash\":\"",
                   pdq_b64, "\",\"state\":\"VETTING_STATE_RETRACTED\"}"),  // 6
      absl::StrCat("{\"id\":\"7\",\"signal_type\":\"SIGNAL_TYPE_PDQ\","
                   "\"hash\":\"",
                   pdq_b64,
                   "\",\"external_id\":\"x\",\"quality\":101,"
                   "\"state\":\"VETTING_STATE_ACTIVE\"}"),  // 7
      absl::StrCat("{\"id\":\"8\",\"signal_type\":\"SIGNAL_TYPE_PDQ\","
                   "\"hash\":\"",
                   pdq_b64,
                   "\",\"external_id\":\"x\","
                   "\"state\":\"VETTING_STATE_ACTIVE\"}"),  // 8
  });
  ParseResult r = Parse(file, HashListFormat::kHashmatch);
  EXPECT_THAT(
      Errors(r),
      ElementsAre(HasSubstr("3: bad record:"),
                  "4: hash: a md5 hash has 16 bytes, got 32",
                  "5: duplicate id 1 (first on line 2)",
                  "6: retraction must be set exactly when the state is "
                  "retracted",
                  "7: quality 101 is out of range 0..100",
                  "8: duplicate (source_agency, external_id) (\"\", \"x\") "
                  "(first on line 2)",
                  HasSubstr("9: checksum mismatch")));
}

TEST(CsvWriterTest, QuotesOnlyWhenNeededAndReadsBack) {
  const std::vector<v1::Entry> entries = SampleEntries();
  const std::string text = WriteAll(HashListFormat::kCsv, entries);
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  EXPECT_EQ(lines[0],
            "signal_type,signal_value,external_id,quality,classification,note,"
            "id,source_agency,state,created_at,updated_at");
  EXPECT_TRUE(absl::StartsWith(
      lines[1],
      absl::StrCat("pdq,", Hex(entries[0].hash()), ",\"ext,\"\"1\"\"")))
      << lines[1];
  EXPECT_TRUE(
      absl::EndsWith(text, absl::StrCat("\nmd5,", Hex(std::string(16, '\x01')),
                                        ",,,,,9,,pending,,\n")))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text,
      ",73,A1,note with\ttab and \xC3\xA9,1,hotline-a,active,"
      "2025-11-28T03:20:00.123456Z,2025-11-28T03:20:00.999999Z\n"))
      << text;
  ParseResult r = Parse(text, HashListFormat::kCsv);
  ASSERT_TRUE(r.errors.empty()) << ErrorText(r);
  ASSERT_EQ(r.entries.size(), 3u);
  for (size_t i = 0; i < entries.size(); ++i) {
    const v1::Entry& got = r.entries[i].entry;
    EXPECT_EQ(got.signal_type(), entries[i].signal_type());
    EXPECT_EQ(got.hash(), entries[i].hash());
    EXPECT_EQ(got.classification(), entries[i].classification());
    EXPECT_EQ(got.note(), entries[i].note());
    EXPECT_EQ(got.quality(), entries[i].quality());
  }
  EXPECT_EQ(r.entries[0].entry.external_id(), entries[0].external_id());
  // The md5 entry had no external id: the reader derives one.
  EXPECT_EQ(r.entries[2].entry.external_id(),
            "md5:" + Hex(std::string(16, '\x01')));
}

TEST(JsonlWriterTest, ReadsBack) {
  const std::vector<v1::Entry> entries = SampleEntries();
  const std::string text = WriteAll(HashListFormat::kJsonl, entries);
  EXPECT_TRUE(absl::StrContains(text, "\"quality\":null,")) << text;
  ParseResult r = Parse(text, HashListFormat::kJsonl);
  ASSERT_TRUE(r.errors.empty()) << ErrorText(r);
  ASSERT_EQ(r.entries.size(), 3u);
  for (size_t i = 0; i < 2; ++i) {
    const v1::Entry& got = r.entries[i].entry;
    EXPECT_EQ(got.hash(), entries[i].hash());
    EXPECT_EQ(got.external_id(), entries[i].external_id());
    EXPECT_EQ(got.note(), entries[i].note());
    EXPECT_EQ(got.quality(), entries[i].quality());
  }
}

TEST(WriterTest, RefusesEntriesItCannotRepresentAndFailedStreams) {
  v1::Entry bad;
  bad.set_signal_type(v1::SIGNAL_TYPE_PDQ);
  bad.set_hash("short");
  std::ostringstream out;
  std::unique_ptr<HashListWriter> w =
      HashListWriter::New(HashListFormat::kCsv, &out);
  EXPECT_EQ(w->Write(bad).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(w->Finish().ok());
  EXPECT_EQ(w->Write(SampleEntries()[0]).code(),
            absl::StatusCode::kFailedPrecondition);
  std::ostringstream broken;
  broken.setstate(std::ios::badbit);
  w = HashListWriter::New(HashListFormat::kJsonl, &broken);
  EXPECT_EQ(w->Write(SampleEntries()[0]).code(), absl::StatusCode::kDataLoss);
}

TEST(FilterTest, EveryConditionAnds) {
  v1::Entry e = SampleEntries()[0];
  v1::EntryFilter f;
  EXPECT_TRUE(EntryMatchesFilter(f, e));
  f.add_signal_types(v1::SIGNAL_TYPE_MD5);
  EXPECT_FALSE(EntryMatchesFilter(f, e));
  f.add_signal_types(v1::SIGNAL_TYPE_PDQ);
  EXPECT_TRUE(EntryMatchesFilter(f, e));
  f.add_states(v1::VETTING_STATE_PENDING);
  EXPECT_FALSE(EntryMatchesFilter(f, e));
  f.add_states(v1::VETTING_STATE_ACTIVE);
  EXPECT_TRUE(EntryMatchesFilter(f, e));
  f.set_source_agency("police-b");
  EXPECT_FALSE(EntryMatchesFilter(f, e));
  f.set_source_agency("hotline-a");
  EXPECT_TRUE(EntryMatchesFilter(f, e));
  f.set_updated_since_micros(e.updated_at_micros() + 1);
  EXPECT_FALSE(EntryMatchesFilter(f, e));
  f.set_updated_since_micros(e.updated_at_micros());
  EXPECT_TRUE(EntryMatchesFilter(f, e));
}

// Randomly damaged files (bytes flipped, quotes, commas, line ends and
// braces inserted, cuts) never crash the readers (CI runs this under ASan
// and UBSan), and every error names a line of the file.
TEST(RobustnessTest, DamagedFilesGiveLineNumberedErrors) {
  std::mt19937 rng(20261128);
  const std::vector<v1::Entry> entries = SampleEntries();
  const char kInserts[] = {'"',  ',',  '\n',   '\r', '{', '}',
                           '\\', '\0', '\xff', 'a',  ':', ' '};
  for (HashListFormat format : {HashListFormat::kCsv, HashListFormat::kJsonl,
                                HashListFormat::kHashmatch}) {
    const std::string good = WriteAll(format, entries);
    int rejected = 0;
    for (int round = 0; round < 3000; ++round) {
      std::string text = good;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits && !text.empty(); ++e) {
        const size_t at = rng() % text.size();
        switch (rng() % 4) {
          case 0:
            text[at] = static_cast<char>(rng());
            break;
          case 1:
            text.insert(at, 1, kInserts[rng() % sizeof(kInserts)]);
            break;
          case 2:
            text.erase(at, 1 + rng() % 8);
            break;
          default:
            text.resize(at);
            break;
        }
      }
      const int64_t lines =
          static_cast<int64_t>(std::count(text.begin(), text.end(), '\n')) + 2;
      ParseResult r = Parse(text, format);
      if (!r.errors.empty()) {
        ++rejected;
        EXPECT_TRUE(r.entries.empty());
        EXPECT_EQ(r.total_errors, static_cast<int64_t>(r.errors.size()));
      }
      for (const LineError& e : r.errors) {
        EXPECT_GE(e.line, 0);
        EXPECT_LE(e.line, lines) << e.message;
        EXPECT_FALSE(e.message.empty());
      }
    }
    // Most damage is caught; the lossless format catches every edit of a
    // record or the end line (its checksum).
    EXPECT_GT(rejected, 1500) << HashListFormatName(format);
  }
}

TEST(NamesTest, FormatsSignalsAndStates) {
  EXPECT_EQ(*ParseHashListFormat("jsonl"), HashListFormat::kJsonl);
  EXPECT_FALSE(ParseHashListFormat("xml").ok());
  EXPECT_EQ(*ParseSignalTypeName("Hash_SHA256"), v1::SIGNAL_TYPE_SHA256);
  EXPECT_FALSE(ParseSignalTypeName("tmk").ok());
  EXPECT_EQ(*ParseStateName("Disputed"), v1::VETTING_STATE_DISPUTED);
  EXPECT_FALSE(ParseStateName("gone").ok());
  EXPECT_EQ(DerivedExternalId(v1::SIGNAL_TYPE_DHASH, std::string(8, '\xab')),
            "dhash:abababababababab");
}

}  // namespace
}  // namespace hashmatch
