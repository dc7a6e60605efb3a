// The code generators are this package's dependencies' products; this target only anchors the package.
