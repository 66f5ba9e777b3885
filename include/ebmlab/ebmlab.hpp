// ebmlab SDK umbrella header: everything a plugin author needs.
#pragma once

#include "ebmlab/backbone.hpp"
#include "ebmlab/component.hpp"
#include "ebmlab/context.hpp"
#include "ebmlab/error.hpp"
#include "ebmlab/loss.hpp"
#include "ebmlab/metric.hpp"
#include "ebmlab/mode_guard.hpp"
#include "ebmlab/normalization.hpp"
#include "ebmlab/plugin.hpp"
#include "ebmlab/sampler.hpp"
#include "ebmlab/sampling.hpp"
#include "ebmlab/schema.hpp"
#include "ebmlab/value.hpp"
