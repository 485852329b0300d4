# Install rules: the library, its public headers, and a CMake package (reconcile::reconcile).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS reconcile reconcile_warnings EXPORT reconcileTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/reconcile
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT reconcileTargets
  NAMESPACE reconcile::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/reconcile)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/reconcileConfig.cmake.in
  ${PROJECT_BINARY_DIR}/reconcileConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/reconcile)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/reconcileConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/reconcileConfig.cmake
              ${PROJECT_BINARY_DIR}/reconcileConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/reconcile)
