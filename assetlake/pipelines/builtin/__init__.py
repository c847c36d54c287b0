"""The steps assetlake ships, registered in the ``assetlake.steps`` entry-point group like a lab's
own: spike detection and firing rates (a chain), a downsampled volume, and summary figures."""
