"""Builders of the retrieval sets recallrank ships frozen (``src/recallrank/datasets/data``) and of the training
pairs the recipes use. They fetch Debian packages (``apt-get download``, ``dpkg-deb -x``) and read the local Python
install, so they stay out of the wheel; :func:`recallrank.datasets.load_dataset` reads what they wrote."""
