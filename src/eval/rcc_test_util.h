// Test helper: writes Qt resource archives (.rcc) in the layout of Qt's
// rcc tool, so that tests of the reader and of corpora with archives need no
// package.
#ifndef HASHMATCH_SRC_EVAL_RCC_TEST_UTIL_H_
#define HASHMATCH_SRC_EVAL_RCC_TEST_UTIL_H_

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "src/eval/rcc_archive.h"

namespace hashmatch {
namespace eval {
namespace testing_util {

struct InFile {
  std::string path;  // "/a/b.txt"
  std::string bytes;
  RccCompression compression = RccCompression::kNone;
};

inline void PutBe16(std::string* s, uint32_t v) {
  s->push_back(static_cast<char>((v >> 8) & 0xFF));
  s->push_back(static_cast<char>(v & 0xFF));
}
inline void PutBe32(std::string* s, uint32_t v) {
  PutBe16(s, v >> 16);
  PutBe16(s, v & 0xFFFF);
}

inline std::u16string Utf16(const std::string& ascii) {
  return std::u16string(ascii.begin(), ascii.end());
}

inline std::string Stored(const InFile& f) {
  switch (f.compression) {
    case RccCompression::kNone:
      return f.bytes;
    case RccCompression::kZlib: {
      uLongf n = compressBound(f.bytes.size());
      std::string z(n, '\0');
      EXPECT_EQ(compress2(reinterpret_cast<Bytef*>(z.data()), &n,
                          reinterpret_cast<const Bytef*>(f.bytes.data()),
                          f.bytes.size(), 9),
                Z_OK);
      z.resize(n);
      std::string out;
      PutBe32(&out, static_cast<uint32_t>(f.bytes.size()));
      return out + z;
    }
    case RccCompression::kZstd: {
      std::string z(ZSTD_compressBound(f.bytes.size()), '\0');
      const size_t n =
          ZSTD_compress(z.data(), z.size(), f.bytes.data(), f.bytes.size(), 3);
      EXPECT_FALSE(ZSTD_isError(n));
      z.resize(n);
      return z;
    }
  }
  return "";
}

// Writes an rcc in the layout of Qt's rcc: header, data, names, tree, with
// nodes numbered breadth first and each directory's children sorted by name
// hash. Names are ASCII.
inline std::string BuildRcc(int version, const std::vector<InFile>& files) {
  struct Dir {
    std::map<std::string, int> dirs;   // name -> dir index
    std::map<std::string, int> files;  // name -> file index
  };
  std::vector<Dir> dirs(1);
  for (int i = 0; i < static_cast<int>(files.size()); ++i) {
    std::vector<std::string> parts =
        absl::StrSplit(files[i].path.substr(1), '/');
    int d = 0;
    for (size_t k = 0; k + 1 < parts.size(); ++k) {
      auto it = dirs[d].dirs.find(parts[k]);
      if (it == dirs[d].dirs.end()) {
        dirs.emplace_back();
        it = dirs[d].dirs.emplace(parts[k], dirs.size() - 1).first;
      }
      d = it->second;
    }
    dirs[d].files[parts.back()] = i;
  }
  std::string data, names;
  std::vector<uint32_t> data_off(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    data_off[i] = static_cast<uint32_t>(data.size());
    const std::string s = Stored(files[i]);
    PutBe32(&data, static_cast<uint32_t>(s.size()));
    data += s;
  }
  std::map<std::string, uint32_t> name_off;
  auto name_of = [&](const std::string& n) {
    auto it = name_off.find(n);
    if (it != name_off.end()) return it->second;
    const uint32_t off = static_cast<uint32_t>(names.size());
    PutBe16(&names, static_cast<uint32_t>(n.size()));
    PutBe32(&names, RccNameHash(Utf16(n)));
    for (char c : n) PutBe16(&names, static_cast<unsigned char>(c));
    name_off[n] = off;
    return off;
  };
  struct Node {
    std::string name;
    bool is_dir;
    int index;  // dir or file index
  };
  // Breadth first: node 0 the root, then each directory's children.
  std::vector<Node> nodes = {{"", true, 0}};
  std::vector<uint32_t> first_child(dirs.size(), 0);
  std::deque<int> queue = {0};
  while (!queue.empty()) {
    const int d = queue.front();
    queue.pop_front();
    std::vector<Node> kids;
    for (const auto& [n, idx] : dirs[d].dirs) kids.push_back({n, true, idx});
    for (const auto& [n, idx] : dirs[d].files) kids.push_back({n, false, idx});
    std::stable_sort(
        kids.begin(), kids.end(), [](const Node& a, const Node& b) {
          return RccNameHash(Utf16(a.name)) < RccNameHash(Utf16(b.name));
        });
    first_child[d] = static_cast<uint32_t>(nodes.size());
    for (const Node& k : kids) {
      nodes.push_back(k);
      if (k.is_dir) queue.push_back(k.index);
    }
  }
  std::string tree;
  for (const Node& n : nodes) {
    PutBe32(&tree, n.name.empty() ? 0 : name_of(n.name));
    if (n.is_dir) {
      PutBe16(&tree, 2);
      PutBe32(&tree, static_cast<uint32_t>(dirs[n.index].dirs.size() +
                                           dirs[n.index].files.size()));
      PutBe32(&tree, first_child[n.index]);
    } else {
      const RccCompression c = files[n.index].compression;
      PutBe16(&tree, c == RccCompression::kZlib   ? 1
                     : c == RccCompression::kZstd ? 4
                                                  : 0);
      PutBe16(&tree, 0);  // country
      PutBe16(&tree, 1);  // language: C
      PutBe32(&tree, data_off[n.index]);
    }
    if (version >= 2) {
      PutBe32(&tree, 0);
      PutBe32(&tree, n.is_dir ? 0 : 1234567);
    }
  }
  const uint32_t header = version >= 3 ? 24 : 20;
  std::string out = "qres";
  PutBe32(&out, static_cast<uint32_t>(version));
  const uint32_t data_at = header;
  const uint32_t names_at = data_at + static_cast<uint32_t>(data.size());
  const uint32_t tree_at = names_at + static_cast<uint32_t>(names.size());
  PutBe32(&out, tree_at);
  PutBe32(&out, data_at);
  PutBe32(&out, names_at);
  if (version >= 3) {
    uint32_t flags = 0;
    for (const InFile& f : files) {
      if (f.compression == RccCompression::kZlib) flags |= 1;
      if (f.compression == RccCompression::kZstd) flags |= 4;
    }
    PutBe32(&out, flags);
  }
  return out + data + names + tree;
}

}  // namespace testing_util
}  // namespace eval
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_EVAL_RCC_TEST_UTIL_H_
