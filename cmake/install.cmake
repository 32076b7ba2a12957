# What `cmake --install` puts where: the command line and its manual page, the headers, the
# static and shared libraries, a CMake package (find_package(parmap) -> parmap::parmap,
# parmap::parmap_static), a pkg-config file, and the Python package when it is built; and the
# Debian package cpack makes.
include(CMakePackageConfigHelpers)

set(PARMAP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/parmap)

install(TARGETS parmap_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS parmap parmap_shared EXPORT parmapTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/parmap DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES completions/parmap.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME parmap)
install(FILES ${PROJECT_BINARY_DIR}/parmap.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(EXPORT parmapTargets NAMESPACE parmap:: DESTINATION ${PARMAP_CMAKE_DIR})

configure_package_config_file(cmake/parmapConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/parmapConfig.cmake INSTALL_DESTINATION ${PARMAP_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/parmapConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/parmapConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/parmapConfigVersion.cmake DESTINATION ${PARMAP_CMAKE_DIR})

# The .pc file locates itself (${pcfiledir}), so that it stays right under any --prefix.
file(RELATIVE_PATH PARMAP_PC_TO_PREFIX
  /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
configure_file(cmake/parmap.pc.in ${CMAKE_CURRENT_BINARY_DIR}/parmap.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/parmap.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

if(PARMAP_PYTHON)
  if(PARMAP_PYTHON_INSTALL_DIR)
    install(CODE "set(parmap_python_dir \"${PARMAP_PYTHON_INSTALL_DIR}\")")
  else()
    # Decided when installing: the prefix is known only then.
    install(CODE "
      if(CMAKE_INSTALL_PREFIX MATCHES \"(^|/)usr/?$\" AND EXISTS /usr/lib/python3/dist-packages)
        set(parmap_python_dir lib/python3/dist-packages)
      else()
        set(parmap_python_dir \"${PARMAP_PYTHON_SITE}\")
      endif()")
  endif()
  install(DIRECTORY ${PARMAP_PYTHON_BUILD_DIR}/parmap DESTINATION \${parmap_python_dir}
    FILES_MATCHING PATTERN "*.py" PATTERN "*.so" PATTERN "__pycache__" EXCLUDE)
endif()

set(CPACK_PACKAGE_NAME parmap)
set(CPACK_PACKAGE_VENDOR parmap)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "Copies a source query's result into a target table in parallel key-range chunks, exactly once")
set(CPACK_PACKAGE_CONTACT "parmap maintainers <parmap@localhost>")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
include(CPack)
