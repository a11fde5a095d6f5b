// A generator of realistic PDQ codes for the search benchmark, fitted to real
// hashes (bench/data/wallpaper_pdq_hashes.tsv, made by pdq_corpus_hashes).
//
//   PdqCorpus corpus = ReadPdqCorpus(path).value();
//   PdqCodeModel model = PdqCodeModel::Fit(corpus.photos).value();
//   std::vector<float> z(256);
//   model.SampleLatent(rng, z.data());        // a new "image"
//   Hash256 h = PdqCodeModel::Threshold(z.data());
//   model.Perturb(z.data(), sigma, rng, z2);   // a near-duplicate of it
//
// Model. PDQ sets bit k where DCT coefficient k exceeds the median of the 256
// coefficients of that image. Our PdqHasher does not expose the coefficients,
// so the model is fitted to the bits (a Gaussian copula): bit k of the
// sample is on with frequency p_k, and bits i, j have phi correlation c_ij.
// The latent vector is Gaussian with means Phi^-1(p_k) and correlations
// sin(pi / 2 * c_ij) (the arcsine law, exact for zero-mean thresholds,
// approximate here), shrunk towards the identity until it is positive
// definite. A sample is thresholded at its own median, as PDQ does, so it has
// 128 bits set. Near-duplicates add independent N(0, sigma^2) noise to every
// latent coefficient and re-threshold; CalibrateSigma picks sigma so that the
// median distance to the original matches a target (the measured median
// distance of real transforms). Quality and flat-image (all-zero) hashes are
// not modelled.
//
// Thread safety: a fitted model is immutable; its const methods may run
// concurrently with separate rngs.
#ifndef HASHMATCH_BENCH_PDQ_CODE_MODEL_H_
#define HASHMATCH_BENCH_PDQ_CODE_MODEL_H_

#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/hashing/bit_hash.h"

namespace hashmatch {

struct PdqCorpus {
  std::vector<Hash256> photos;  // Distinct images: kinds full, mirror, crop*.
  // Distances between each photo and its transforms (kinds t_*).
  std::vector<int> transform_distances;
};

// Reads the TSV written by pdq_corpus_hashes. Errors: NOT_FOUND,
// INVALID_ARGUMENT (a malformed row).
absl::StatusOr<PdqCorpus> ReadPdqCorpus(const std::string& path);

class PdqCodeModel {
 public:
  static constexpr int kBits = 256;

  // Errors: INVALID_ARGUMENT with fewer than 16 hashes.
  static absl::StatusOr<PdqCodeModel> Fit(const std::vector<Hash256>& hashes);

  // Draws a latent vector (kBits floats) of a new image.
  void SampleLatent(std::mt19937_64& rng, float* z) const;
  // out = z + N(0, sigma^2) per coefficient. `out` may not alias `z`.
  static void Perturb(const float* z, float sigma, std::mt19937_64& rng,
                      float* out);
  // Bit k set where z[k] exceeds the median (the 128th smallest value).
  static Hash256 Threshold(const float* z);
  // The sigma whose perturbations land at `median_distance` bits (median
  // over a few hundred samples).
  float CalibrateSigma(double median_distance, std::mt19937_64& rng) const;

  // Mean |frequency difference| per bit and mean |phi difference| per pair
  // between `hashes` and `samples` codes drawn from the model: fidelity.
  void Compare(const std::vector<Hash256>& hashes, int samples,
               std::mt19937_64& rng, double* bit_error,
               double* pair_error) const;
  double shrinkage() const { return shrinkage_; }

 private:
  std::vector<float> mean_;  // kBits.
  std::vector<float> chol_;  // Lower factor, column-major kBits x kBits.
  double shrinkage_ = 0;
};

}  // namespace hashmatch

#endif  // HASHMATCH_BENCH_PDQ_CODE_MODEL_H_
