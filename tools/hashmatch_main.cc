// Temporary smoke driver: hashes files with pdq and pdq-cli512.
#include <iostream>
#include "src/common/file_util.h"
#include "src/hashing/image_hasher.h"
int main(int argc, char** argv) {
  hashmatch::ImageHasher h;
  auto algos = hashmatch::ParseAlgorithmList(argv[1]).value();
  for (int i = 2; i < argc; ++i) {
    auto bytes = hashmatch::ReadFileToString(argv[i], 64 << 20);
    if (!bytes.ok()) { std::cerr << bytes.status() << "\n"; continue; }
    auto r = h.HashBytes(*bytes, algos, {});
    if (!r.ok()) { std::cerr << argv[i] << ": " << r.status() << "\n"; continue; }
    std::cout << argv[i];
    for (auto& x : r->results) std::cout << "\t" << x.hex << "\t" << x.quality.value_or(-1);
    std::cout << "\n";
  }
}
