// Readers behind load_dataset for the data sets beyond Fashion-MNIST and toy2d.
#pragma once

#include "data/data.hpp"

namespace ebm::kernel {

/// CIFAR-10 / CIFAR-100 "binary version" from data.path; fills d.info, d.test and `train`.
void load_cifar(const Params& data, bool hundred, Dataset& d, Split& train);
/// data.path/train/<class>/*.png|jpg and data.path/test/<class>/..., decoded on demand.
void load_image_folder(const Params& data, Dataset& d, Split& train);

}  // namespace ebm::kernel
