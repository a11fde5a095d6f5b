#include "bench/pdq_code_model.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numbers>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hashmatch {
namespace {

constexpr int kN = PdqCodeModel::kBits;

// Standard normal draws, fast: 65536 stored N(0, 1) values indexed by 16
// random bits (four draws per 64-bit random number).
class FastNormal {
 public:
  static const FastNormal& Get() {
    static const FastNormal* const table = new FastNormal();
    return *table;
  }
  void Fill(std::mt19937_64& rng, float* out, int n) const {
    for (int i = 0; i < n; i += 4) {
      uint64_t r = rng();
      for (int k = 0; k < 4 && i + k < n; ++k, r >>= 16) {
        out[i + k] = values_[r & 0xFFFF];
      }
    }
  }

 private:
  FastNormal() : values_(1 << 16) {
    std::mt19937_64 rng(20240601);
    std::normal_distribution<float> normal;
    for (float& v : values_) v = normal(rng);
  }
  std::vector<float> values_;
};

double NormalCdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

double NormalQuantile(double p) {
  double lo = -8, hi = 8;
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    (NormalCdf(mid) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

// Cholesky of a row-major matrix into a column-major lower factor; false if
// it is not positive definite.
bool Cholesky(const std::vector<double>& a, std::vector<float>* chol) {
  std::vector<double> l(kN * kN, 0);  // Row-major.
  for (int i = 0; i < kN; ++i) {
    for (int j = 0; j <= i; ++j) {
      double s = a[i * kN + j];
      for (int k = 0; k < j; ++k) s -= l[i * kN + k] * l[j * kN + k];
      if (i == j) {
        if (s <= 1e-9) return false;
        l[i * kN + i] = std::sqrt(s);
      } else {
        l[i * kN + j] = s / l[j * kN + j];
      }
    }
  }
  chol->assign(kN * kN, 0);
  for (int i = 0; i < kN; ++i) {
    for (int j = 0; j <= i; ++j) (*chol)[j * kN + i] = l[i * kN + j];
  }
  return true;
}

void BitStats(const std::vector<Hash256>& hashes, std::vector<double>* p,
              std::vector<double>* phi) {
  const size_t n = hashes.size();
  std::vector<double> sum(kN, 0), joint(kN * kN, 0);
  std::vector<int> bits(kN);
  for (const Hash256& h : hashes) {
    for (int k = 0; k < kN; ++k) bits[k] = h.GetBit(k);
    for (int i = 0; i < kN; ++i) {
      if (!bits[i]) continue;
      sum[i] += 1;
      for (int j = 0; j < kN; ++j) joint[i * kN + j] += bits[j];
    }
  }
  p->resize(kN);
  phi->assign(kN * kN, 0);
  for (int i = 0; i < kN; ++i) (*p)[i] = sum[i] / n;
  for (int i = 0; i < kN; ++i) {
    for (int j = 0; j < kN; ++j) {
      const double pi = (*p)[i], pj = (*p)[j];
      const double var = pi * (1 - pi) * pj * (1 - pj);
      (*phi)[i * kN + j] =
          i == j ? 1.0
                 : (var > 0 ? (joint[i * kN + j] / n - pi * pj) / std::sqrt(var)
                            : 0.0);
    }
  }
}

}  // namespace

absl::StatusOr<PdqCorpus> ReadPdqCorpus(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  PdqCorpus corpus;
  std::map<int, Hash256> full;
  std::vector<std::pair<int, Hash256>> transforms;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string hex, kind;
    int group = -1;
    fields >> hex >> kind >> group;
    absl::StatusOr<Hash256> h = Hash256::FromHex(hex);
    if (!h.ok() || group < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": malformed row"));
    }
    if (kind.rfind("t_", 0) == 0) {
      transforms.push_back({group, *h});
    } else {
      corpus.photos.push_back(*h);
      if (kind == "full") full[group] = *h;
    }
  }
  for (const auto& [group, h] : transforms) {
    auto it = full.find(group);
    if (it != full.end()) {
      corpus.transform_distances.push_back(HammingDistance(it->second, h));
    }
  }
  return corpus;
}

absl::StatusOr<PdqCodeModel> PdqCodeModel::Fit(
    const std::vector<Hash256>& hashes) {
  if (hashes.size() < 16) {
    return absl::InvalidArgumentError("need at least 16 hashes to fit");
  }
  std::vector<double> p, phi;
  BitStats(hashes, &p, &phi);
  PdqCodeModel model;
  model.mean_.resize(kN);
  const double eps = 0.5 / hashes.size();
  for (int k = 0; k < kN; ++k) {
    model.mean_[k] =
        static_cast<float>(NormalQuantile(std::clamp(p[k], eps, 1 - eps)));
  }
  std::vector<double> rho(kN * kN);
  for (int i = 0; i < kN * kN; ++i) {
    rho[i] = std::sin(std::numbers::pi / 2 * phi[i]);
  }
  for (double lambda = 0.0; lambda <= 1.0; lambda += 0.02) {
    std::vector<double> a(kN * kN);
    for (int i = 0; i < kN; ++i) {
      for (int j = 0; j < kN; ++j) {
        a[i * kN + j] = (1 - lambda) * rho[i * kN + j] + (i == j ? lambda : 0);
      }
    }
    if (Cholesky(a, &model.chol_)) {
      model.shrinkage_ = lambda;
      return model;
    }
  }
  return absl::InternalError("no positive definite shrinkage found");
}

void PdqCodeModel::SampleLatent(std::mt19937_64& rng, float* z) const {
  float n[kN];
  FastNormal::Get().Fill(rng, n, kN);
  std::copy(mean_.begin(), mean_.end(), z);
  for (int k = 0; k < kN; ++k) {
    const float* col = &chol_[k * kN];
    const float nk = n[k];
    for (int i = k; i < kN; ++i) z[i] += col[i] * nk;
  }
}

void PdqCodeModel::Perturb(const float* z, float sigma, std::mt19937_64& rng,
                           float* out) {
  FastNormal::Get().Fill(rng, out, kN);
  for (int k = 0; k < kN; ++k) out[k] = z[k] + sigma * out[k];
}

Hash256 PdqCodeModel::Threshold(const float* z) {
  float sorted[kN];
  std::copy(z, z + kN, sorted);
  std::nth_element(sorted, sorted + kN / 2 - 1, sorted + kN);
  const float median = sorted[kN / 2 - 1];
  Hash256 h;
  for (int k = 0; k < kN; ++k) {
    if (z[k] > median) h.SetBit(k);
  }
  return h;
}

float PdqCodeModel::CalibrateSigma(double median_distance,
                                   std::mt19937_64& rng) const {
  float lo = 0, hi = 3;
  std::vector<float> z(kN), z2(kN);
  for (int iter = 0; iter < 20; ++iter) {
    const float mid = (lo + hi) / 2;
    std::vector<int> d;
    for (int i = 0; i < 300; ++i) {
      SampleLatent(rng, z.data());
      Perturb(z.data(), mid, rng, z2.data());
      d.push_back(HammingDistance(Threshold(z.data()), Threshold(z2.data())));
    }
    std::nth_element(d.begin(), d.begin() + d.size() / 2, d.end());
    (d[d.size() / 2] < median_distance ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

void PdqCodeModel::Compare(const std::vector<Hash256>& hashes, int samples,
                           std::mt19937_64& rng, double* bit_error,
                           double* pair_error) const {
  std::vector<Hash256> drawn;
  std::vector<float> z(kN);
  for (int i = 0; i < samples; ++i) {
    SampleLatent(rng, z.data());
    drawn.push_back(Threshold(z.data()));
  }
  std::vector<double> p1, phi1, p2, phi2;
  BitStats(hashes, &p1, &phi1);
  BitStats(drawn, &p2, &phi2);
  double be = 0, pe = 0;
  for (int k = 0; k < kN; ++k) be += std::abs(p1[k] - p2[k]);
  for (int i = 0; i < kN; ++i) {
    for (int j = i + 1; j < kN; ++j) {
      pe += std::abs(phi1[i * kN + j] - phi2[i * kN + j]);
    }
  }
  *bit_error = be / kN;
  *pair_error = pe / (kN * (kN - 1) / 2);
}

}  // namespace hashmatch
