# find_package(ebmlab) for out-of-tree plugins:
#   find_package(ebmlab REQUIRED)
#   ebmlab_add_plugin(my_sampler SOURCES my_sampler.cpp)
include(CMakeFindDependencyMacro)
find_dependency(Torch)
include(${CMAKE_CURRENT_LIST_DIR}/ebmlabTargets.cmake)

function(ebmlab_add_plugin name)
  cmake_parse_arguments(P "" "" "SOURCES" ${ARGN})
  add_library(${name} MODULE ${P_SOURCES})
  target_compile_features(${name} PRIVATE cxx_std_17)
  target_link_libraries(${name} PRIVATE ebmlab::ebmlab_core ${TORCH_LIBRARIES})
  set_target_properties(${name} PROPERTIES PREFIX "libebmlab_" CXX_VISIBILITY_PRESET hidden)
endfunction()
